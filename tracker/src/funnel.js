/*
 * Funnel's tracker: page views (single-page navigation included), engagement, web vitals,
 * form starts and submits, custom events and lead forms, from one tag:
 *
 *   <script defer src="https://<api>/funnel.js" data-property="<propertyId>"></script>
 *
 * This is the readable source. `make tracker` minifies it with terser into
 * functions/assets/static/funnel.js, the file `GET /funnel.js` serves; CI fails when that
 * file is not what this source builds to. VITALS is set at build time: the size budget
 * also builds the tracker without web vitals to check the core alone.
 *
 * It keeps nothing in the browser (no cookie, no storage): the server counts cookieless
 * visitors, unless the site passes its own anonymous id in data-visitor-id. A page view is
 * sent at once; the page's engagement, vitals and form events wait and leave together, in
 * one request, when the page is hidden or left (or on the next single-page navigation).
 * No error of the tracker reaches the host page, and a failed send is dropped quietly.
 */
(function () {
  var win = window;
  var doc = document;
  var nav = navigator;
  var loc = location;
  var script = doc.currentScript;
  var calledEarly = (win.funnel && win.funnel.q) || [];

  // The server's own rules (funnel/schemas/capture.py): an event that breaks one is refused
  // with its whole request, so nothing that would is ever sent.
  var IDENTIFIER = /^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$/;
  var CLIENT_ID = /^[A-Za-z0-9_-]{8,128}$/;
  var EVENT_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;
  // Surrogate pairs are kept; a NUL or half a pair is text the server cannot store.
  var PAIR_OR_UNSTORABLE = /[\ud800-\udbff][\udc00-\udfff]|[\ud800-\udfff]|\0/g;
  var MAX_EVENTS = 100;
  var MAX_PROPERTIES = 20;
  var MAX_ENGAGED_MS = 864e5;
  var MAX_VITAL_MS = 6e5;
  var RETRY_MS = 3e3;

  var property, visitor, endpoint;
  var queue = [];
  var timer;
  var page; // the current page view: {id, path, pathname, at}
  var firstPage; // the page view the web vitals belong to
  var engagedMs, visibleSince, scrollDepth, sentEngagement, startedForms;
  var vitals = {};
  var sentVitals = '{}';

  // Until the tracker runs, and for good when it does not, calls do nothing.
  win.funnel = function () {};

  function safe(fn) {
    return function () {
      try {
        return fn.apply(this, arguments);
      } catch (e) {
        // The host page must never see an error of ours.
      }
    };
  }

  function listen(target, type, fn, options) {
    target.addEventListener(type, safe(fn), options);
  }

  function cut(text, length) {
    return String(text)
      .slice(0, length)
      .replace(PAIR_OR_UNSTORABLE, function (found) {
        return found[1] ? found : '';
      });
  }

  function newId() {
    try {
      return crypto.randomUUID();
    } catch (e) {
      // Not a secure context (plain http): no randomUUID there.
      return Date.now().toString(36) + Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2);
    }
  }

  function event(type, fields, ofPage) {
    ofPage = ofPage || page;
    var e = {
      type: type,
      eventId: newId(),
      propertyId: property,
      visitorId: visitor,
      path: ofPage.path,
      // Engagement and vitals describe their page view and are dated with it: sent when the
      // page is left, perhaps long after, they would otherwise look like a new visit.
      occurredAt: fields.engagement || fields.vitals ? ofPage.at : new Date().toISOString(),
    };
    if (type != 'page_view') e.pageViewId = ofPage.id;
    for (var name in fields) e[name] = fields[name];
    return e;
  }

  function send(body, isRetry) {
    try {
      if (nav.sendBeacon(endpoint + 'v1/events', body)) return;
    } catch (e) {
      // No sendBeacon: fetch below.
    }
    fetch(endpoint + 'v1/events', {
      method: 'POST',
      body: body,
      keepalive: true,
      mode: 'no-cors',
    }).catch(function () {
      // Once more with the same event ids: if the first did arrive, the server keeps one.
      if (!isRetry) setTimeout(safe(send), RETRY_MS, body, 1);
    });
  }

  function flush() {
    clearTimeout(timer);
    while (queue.length) send(JSON.stringify({ events: queue.splice(0, MAX_EVENTS) }));
  }

  function isVisible() {
    return doc.visibilityState == 'visible';
  }

  function pauseEngagement() {
    if (visibleSince) engagedMs += Date.now() - visibleSince;
    visibleSince = 0;
  }

  function measureScroll() {
    var depth = Math.min(
      100,
      Math.round(((win.scrollY + win.innerHeight) * 100) / doc.documentElement.scrollHeight)
    );
    if (depth > scrollDepth) scrollDepth = depth;
  }

  function pageView(referrer) {
    var path = (loc.pathname + loc.search).slice(0, 4096);
    page = { id: newId(), path: path, pathname: loc.pathname, at: new Date().toISOString() };
    firstPage = firstPage || page;
    engagedMs = 0;
    scrollDepth = 0;
    sentEngagement = '';
    startedForms = [];
    visibleSince = isVisible() ? Date.now() : 0;
    var e = event('page_view', {
      title: cut(doc.title, 512) || undefined,
      referrer: (referrer || '').slice(0, 2048) || undefined,
    });
    e.eventId = page.id;
    e.occurredAt = page.at;
    queue.push(e);
  }

  // Queue what the current page view measured since it was last reported.
  function report() {
    pauseEngagement();
    measureScroll();
    var engagement = {
      engagedTimeMs: Math.min(Math.max(Math.round(engagedMs), 0), MAX_ENGAGED_MS),
      scrollDepthPercent: scrollDepth,
    };
    var key = JSON.stringify(engagement);
    if (key != sentEngagement) {
      sentEngagement = key;
      queue.push(event('engagement', { engagement: engagement }));
    }
    if (VITALS) {
      key = JSON.stringify(vitals);
      if (key != sentVitals) {
        sentVitals = key;
        queue.push(event('web_vitals', { vitals: JSON.parse(key) }, firstPage));
      }
    }
  }

  function navigated() {
    if (loc.pathname != page.pathname) {
      report();
      pageView();
      flush();
    }
  }

  function formId(form) {
    var id = form.getAttribute('data-funnel-form') || form.getAttribute('id') || '';
    return IDENTIFIER.test(id) ? id : '';
  }

  function custom(name, properties) {
    if (typeof name != 'string' || !EVENT_NAME.test(name)) return;
    var kept = {};
    var count = 0;
    for (var key in properties) {
      var value = properties[key];
      var kind = typeof value;
      if (
        count < MAX_PROPERTIES &&
        EVENT_NAME.test(key) &&
        (value === null || kind == 'boolean' || kind == 'string' || (kind == 'number' && isFinite(value)))
      ) {
        kept[key] = kind == 'string' ? cut(value, 256) : value;
        count++;
      }
    }
    queue.push(event('custom', { name: name, properties: count ? kept : undefined }));
    // Calls made together leave together.
    clearTimeout(timer);
    timer = setTimeout(safe(flush));
  }

  // A lead form goes to POST /v1/leads/capture as the JSON its plain HTML post would be
  // read as (the server's funnel.http.form_fields), with the property, page and visitor.
  function captureLead(form, id, submit) {
    var lead = {};
    new FormData(form).forEach(function (value, name) {
      if (typeof value != 'string') return;
      var group = /^(\w+)\[([^[\]]*)\]$/.exec(name);
      if (group) (lead[group[1]] = lead[group[1]] || {})[group[2]] = value;
      else lead[name] = value;
    });
    lead.propertyId = lead.propertyId || property;
    lead.formId = lead.formId || id || undefined;
    lead.path = lead.path || page.path;
    lead.visitorId = lead.visitorId || visitor;
    var body = JSON.stringify(lead);
    submit.preventDefault();
    form.setAttribute('data-funnel-state', 'sending');
    var done = function (ok, status) {
      form.setAttribute('data-funnel-state', ok ? 'sent' : 'failed');
      form.dispatchEvent(new CustomEvent('funnel:lead', { bubbles: true, detail: { ok: ok, status: status } }));
    };
    fetch(endpoint + 'v1/leads/capture', { method: 'POST', body: body, keepalive: true }).then(
      safe(function (response) {
        if (response.ok && lead.redirect) loc.href = lead.redirect;
        else done(response.ok, response.status);
      }),
      safe(function () {
        // Unreachable: the form posts itself as it would without JavaScript.
        form.removeAttribute('data-funnel-state');
        form.submit();
      })
    );
  }

  function observeVitals() {
    function record(name, value) {
      if (value >= 0) vitals[name] = Math.min(Math.round(value), MAX_VITAL_MS);
    }
    function observe(type, fn, options) {
      try {
        new PerformanceObserver(function (list) {
          list.getEntries().forEach(safe(fn));
        }).observe(Object.assign({ type: type, buffered: true }, options));
      } catch (e) {
        // This browser does not report that entry type.
      }
    }
    try {
      record('ttfb', performance.getEntriesByType('navigation')[0].responseStart);
    } catch (e) {
      // No Navigation Timing.
    }
    observe('paint', function (entry) {
      if (entry.name == 'first-contentful-paint') record('fcp', entry.startTime);
    });
    // The browser stops reporting candidates at the first input, so the last one is LCP.
    observe('largest-contentful-paint', function (entry) {
      record('lcp', entry.startTime);
    });
    // CLS: the largest burst of unexpected shifts (at most 1 s apart, 5 s in all).
    var burst = 0;
    var burstStart = 0;
    var lastShift = 0;
    observe('layout-shift', function (entry) {
      if (entry.hadRecentInput) return;
      if (burst && entry.startTime - lastShift < 1e3 && entry.startTime - burstStart < 5e3) {
        burst += entry.value;
      } else {
        burst = entry.value;
        burstStart = entry.startTime;
      }
      lastShift = entry.startTime;
      if (!(vitals.cls >= burst)) vitals.cls = Math.min(Math.round(burst * 1e4) / 1e4, 100);
    });
    // INP: the slowest interaction, ignoring one in every 50 (a 98th percentile).
    var interactions = {};
    observe(
      'event',
      function (entry) {
        if (!entry.interactionId) return;
        interactions[entry.interactionId] = Math.max(interactions[entry.interactionId] || 0, entry.duration);
        var slowest = Object.values(interactions).sort(function (a, b) {
          return b - a;
        });
        record('inp', slowest[Math.min(slowest.length - 1, (slowest.length / 50) | 0)]);
      },
      { durationThreshold: 40 }
    );
  }

  function start() {
    pageView(doc.referrer);
    win.funnel = safe(custom);
    calledEarly.forEach(function (call) {
      win.funnel.apply(null, call);
    });
    flush();

    listen(win, 'scroll', measureScroll, { passive: true });
    listen(doc, 'visibilitychange', function () {
      if (isVisible()) {
        visibleSince = visibleSince || Date.now();
      } else {
        report();
        flush();
      }
    });
    listen(win, 'pagehide', function () {
      report();
      flush();
    });
    // Back to a page kept in the back/forward cache: the visitor sees it again.
    listen(win, 'pageshow', function (e) {
      if (e.persisted) {
        pageView();
        flush();
      }
    });
    ['pushState', 'replaceState'].forEach(function (name) {
      var original = history[name];
      history[name] = function () {
        var result = original.apply(this, arguments);
        safe(navigated)();
        return result;
      };
    });
    listen(win, 'popstate', navigated);

    listen(
      doc,
      'input',
      function (e) {
        var form = e.target.form;
        var id = form && formId(form);
        if (id && startedForms.indexOf(id) < 0) {
          startedForms.push(id);
          queue.push(event('form_start', { formId: id }));
        }
      },
      true
    );
    // Bubbling, so the site's own handlers run first: a submit they cancel is not a lead.
    listen(doc, 'submit', function (e) {
      var form = e.target;
      var isLead = form.hasAttribute('data-funnel-lead');
      // A second click while the lead is on its way is not a second submit.
      if (isLead && form.getAttribute('data-funnel-state') == 'sending') return e.preventDefault();
      var id = formId(form);
      if (id) queue.push(event('form_submit', { formId: id }));
      if (isLead && !e.defaultPrevented) captureLead(form, id, e);
    });
    if (VITALS) observeVitals();
  }

  safe(function () {
    var data = script.dataset;
    property = data.property;
    visitor = CLIENT_ID.test(data.visitorId || '') ? data.visitorId : undefined;
    endpoint = (data.api || new URL('.', script.src).href).replace(/\/*$/, '/');
    // Automated browsers only when the site allows them (its own tests); nothing when the
    // browser signals Global Privacy Control and the site honours it; nothing for a
    // property id the server would refuse.
    if (nav.webdriver && data.allowAutomated == null) return;
    if (nav.globalPrivacyControl && data.respectGpc != null) return;
    if (property != null && !IDENTIFIER.test(property)) return;
    if (doc.prerendering) listen(doc, 'prerenderingchange', start, { once: true });
    else start();
  })();
})();
