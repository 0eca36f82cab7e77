-- Fold web vitals or engagement into a stored page view's row. A vital's latest report
-- wins; engagement only grows.
UPDATE web_traffic_logs
   SET fcp_ms               = COALESCE(%(fcp_ms)s, fcp_ms),
       lcp_ms               = COALESCE(%(lcp_ms)s, lcp_ms),
       inp_ms               = COALESCE(%(inp_ms)s, inp_ms),
       cls_score            = COALESCE(%(cls_score)s::real, cls_score),
       ttfb_ms              = COALESCE(%(ttfb_ms)s, ttfb_ms),
       engaged_time_ms      = GREATEST(engaged_time_ms, %(engaged_time_ms)s),
       scroll_depth_percent = GREATEST(scroll_depth_percent, %(scroll_depth_percent)s)
 WHERE id = %(id)s
