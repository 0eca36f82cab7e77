"""Run Funnel's functions locally without Docker, from ``template.yaml``.

``sam local`` needs Docker; this package reads the same template and gives:

* :mod:`funnel_local.template`: the functions, routes, schedules, environment and
  throttling of the template, with CloudFormation intrinsics resolved the way a deploy
  would resolve them (:mod:`funnel_local.schedule_expressions` reads rate and cron);
* :mod:`funnel_local.workers`: each function in its own warm worker processes, as Lambda runs it;
* :mod:`funnel_local.gateway`: an API Gateway HTTP API (payload format 2.0) in front of them;
* :mod:`funnel_local.scheduler`: the template's schedules, fired as EventBridge fires them;
* :mod:`funnel_local.postgres`: the embedded PostgreSQL server for local runs and tests;
* ``python -m funnel_local``: the ``serve``, ``invoke``, ``routes`` and ``openapi`` commands.
"""
