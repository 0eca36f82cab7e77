// The Funnel dashboard: one page that reads /v1/metrics/* with a read-only metrics key.
//
// The first view costs three requests: the summary (with its comparison, funnel,
// breakdowns and the list of properties), service usage (with the funnel by channel) and
// the visitors now. A change of window or comparison asks for the first two again, a
// change of property for the summary and the visitors now, a change of grouping for
// service usage only. The key lives in sessionStorage (this tab, until sign-out). A part
// missing from an answer is shown as unavailable, never as zero. Everything is built
// with DOM calls and textContent: no HTML from data, no inline script or style.
'use strict';

(() => {
  const KEY_STORAGE = 'funnel.metricsKey';
  const PERIODS = ['today', '7d', '30d', '90d', 'month', 'last_month', 'custom'];
  const GROUPS = ['channel', 'utm_source', 'utm_campaign'];
  const DAY = /^\d{4}-\d{2}-\d{2}$/;
  const STALE_AFTER_MS = 2 * 60 * 60 * 1000;
  const NOW_REFRESH_MS = 60 * 1000;

  const $ = (id) => document.getElementById(id);
  const state = { property: '', period: '30d', from: '', to: '', compare: true, groupBy: 'channel' };
  const data = { summary: null, usage: null, now: null };
  const errors = { summary: null, usage: null, now: null };
  const tables = {};
  let charts = [];
  let loads = 0;
  let nowTimer = 0;

  // ---- formatting -------------------------------------------------------------------
  const integer = new Intl.NumberFormat('en', { maximumFractionDigits: 0 });
  const oneDecimal = new Intl.NumberFormat('en', { maximumFractionDigits: 1 });
  const percent = new Intl.NumberFormat('en', { style: 'percent', maximumFractionDigits: 1 });
  const FORMATS = {
    count: (v) => integer.format(v),
    pct: (v) => percent.format(v),
    hours: (v) => `${oneDecimal.format(v)} h`,
    ms: (v) => `${integer.format(v)} ms`,
    text: (v) => String(v),
  };
  const shown = (value, kind) => (value === null || value === undefined ? '–' : FORMATS[kind](value));
  // What a cell or tile holds, unformatted, for whoever reads the page's markup (the tests).
  const raw = (value) => (value === null || value === undefined ? '' : String(value));
  const sum = (rows, field) => rows.reduce((total, row) => total + (row[field] || 0), 0);

  function h(tag, attributes, ...children) {
    const element = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === false || value === null || value === undefined) continue;
      if (name === 'class') element.className = value;
      else if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
      else element.setAttribute(name, value === true ? '' : value);
    }
    for (const child of children.flat()) {
      if (child !== null && child !== undefined && child !== false) {
        element.append(child instanceof Node ? child : String(child));
      }
    }
    return element;
  }

  // ---- the address keeps the view (bookmarkable, shareable, never the key) -----------
  function readHash() {
    const params = new URLSearchParams(location.hash.slice(1));
    state.property = params.get('property') || '';
    const period = params.get('period');
    state.period = PERIODS.includes(period) ? period : '30d';
    state.from = DAY.test(params.get('from') || '') ? params.get('from') : '';
    state.to = DAY.test(params.get('to') || '') ? params.get('to') : '';
    if (state.period === 'custom' && !(state.from && state.to)) state.period = '30d';
    state.compare = params.get('compare') !== '0';
    const group = params.get('by');
    state.groupBy = GROUPS.includes(group) ? group : 'channel';
  }

  function writeHash() {
    const params = new URLSearchParams();
    if (state.property) params.set('property', state.property);
    params.set('period', state.period);
    if (state.period === 'custom') {
      params.set('from', state.from);
      params.set('to', state.to);
    }
    if (!state.compare) params.set('compare', '0');
    if (state.groupBy !== 'channel') params.set('by', state.groupBy);
    history.replaceState(null, '', `#${params}`);
  }

  function syncControls() {
    $('period').value = state.period;
    $('custom').hidden = state.period !== 'custom';
    $('from').value = state.from;
    $('to').value = state.to;
    $('compare').checked = state.compare;
    $('group-by').value = state.groupBy;
    ensurePropertyOption(state.property);
    $('property').value = state.property;
  }

  // ---- the API -------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, body) {
      super(`HTTP ${status}`);
      this.status = status;
      this.body = body;
    }
  }

  const storedKey = () => sessionStorage.getItem(KEY_STORAGE) || '';

  async function api(route, params) {
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(params)) {
      if (value !== undefined && value !== null && value !== '' && value !== false) query.set(name, String(value));
    }
    let response;
    try {
      response = await fetch(`/v1/metrics/${route}${query.size ? `?${query}` : ''}`, {
        headers: { authorization: `Bearer ${storedKey()}`, accept: 'application/json' },
        cache: 'no-store',
        credentials: 'omit',
      });
    } catch {
      throw new ApiError(0, null);
    }
    const body = await response.json().catch(() => null);
    if (!response.ok) throw new ApiError(response.status, body);
    return body;
  }

  const windowParams = () =>
    state.period === 'custom' ? { from: state.from, to: state.to } : { period: state.period };

  const REQUESTS = {
    summary: () =>
      api('summary', {
        propertyId: state.property,
        ...windowParams(),
        compareTo: state.compare,
        includeFunnel: true,
        includeBreakdowns: true,
      }),
    usage: () => api('service-usage', { ...windowParams(), compareTo: state.compare, groupBy: state.groupBy }),
    now: () => api('now', { propertyId: state.property }),
  };

  function explain(error) {
    if (!(error instanceof ApiError)) return `The page failed: ${error.message}. Reload it; if it fails again, tell whoever runs Funnel.`;
    const said = error.body && (error.body.details || error.body.error);
    const detail = said ? ` (${typeof said === 'string' ? said : JSON.stringify(said)})` : '';
    switch (true) {
      case error.status === 0:
        return 'The API cannot be reached. Check your connection, then try again.';
      case error.status === 400 || error.status === 422:
        return `The API refused this query${detail}. Choose another window: custom dates in order, not in the future, at most 366 days.`;
      case error.status === 404:
        return 'This API does not serve it: is the dashboard newer than the API?';
      case error.status === 429:
        return 'Too many requests just now: wait a few seconds, then try again.';
      case error.status === 503:
        return `The metrics are unavailable for a moment${detail}: try again in a minute.`;
      default:
        return `The API failed (HTTP ${error.status})${detail}. Try again; if it keeps failing, tell whoever runs Funnel.`;
    }
  }

  async function load(parts) {
    const ticket = ++loads;
    $('app').setAttribute('aria-busy', 'true');
    const results = await Promise.allSettled(parts.map((part) => REQUESTS[part]()));
    if (ticket !== loads) return; // a newer choice superseded this one
    $('app').removeAttribute('aria-busy');
    parts.forEach((part, index) => {
      const result = results[index];
      data[part] = result.status === 'fulfilled' ? result.value : null;
      errors[part] = result.status === 'rejected' ? result.reason : null;
    });
    if (parts.some((part) => errors[part] instanceof ApiError && errors[part].status === 401)) {
      signOut('That key was not accepted. Use the read-only metrics key (the admin key is refused here: ask for the metrics key).');
      return;
    }
    // The minute's refresh of the visitors now redraws that line only, so it never takes
    // the focus, a scrolled table or a chart's cursor from under the reader.
    if (parts.length === 1 && parts[0] === 'now') renderNow();
    else render();
    $('app').dataset.renders = String(Number($('app').dataset.renders || 0) + 1);
  }

  // ---- sign-in -------------------------------------------------------------------
  function showSignIn(message) {
    $('app').hidden = true;
    $('controls').hidden = true;
    $('signout').hidden = true;
    $('freshness').hidden = true;
    $('signin').hidden = false;
    $('signin-error').hidden = !message;
    $('signin-error').textContent = message || '';
    $('key').value = '';
    $('key').focus();
  }

  function showApp() {
    $('signin').hidden = true;
    $('app').hidden = false;
    $('controls').hidden = false;
    $('signout').hidden = false;
    syncControls();
  }

  function signOut(message) {
    sessionStorage.removeItem(KEY_STORAGE);
    loads += 1;
    clearInterval(nowTimer);
    for (const part of Object.keys(data)) data[part] = errors[part] = null;
    destroyCharts();
    showSignIn(message);
  }

  function start() {
    showApp();
    load(['summary', 'usage', 'now']);
    clearInterval(nowTimer);
    nowTimer = setInterval(() => {
      if (document.visibilityState === 'visible') load(['now']);
    }, NOW_REFRESH_MS);
  }

  // ---- rendering -----------------------------------------------------------------
  function render() {
    const summary = data.summary;
    $('problem').hidden = !errors.summary;
    $('problem-text').textContent = errors.summary ? explain(errors.summary) : '';
    renderProperties(summary);
    renderWindow(summary);
    renderFreshness(summary || data.usage);
    renderEmpty(summary);
    renderTiles($('tiles'), summary ? headlineTiles(summary) : []);
    renderTrend(summary);
    for (const name of ['sources', 'landingPages', 'topPages', 'devices', 'countries']) renderBreakdown(name, summary);
    renderNow();
    renderFunnel(summary);
    renderFunnelByGroup();
    renderUsage();
    renderIngest(summary);
  }

  function ensurePropertyOption(id) {
    const select = $('property');
    if (id && ![...select.options].some((option) => option.value === id)) {
      select.append(h('option', { value: id }, id));
    }
  }

  function renderProperties(summary) {
    const listed = summary && Array.isArray(summary.properties) ? summary.properties : null;
    if (listed) {
      const select = $('property');
      select.replaceChildren(h('option', { value: '' }, 'All properties'));
      for (const entry of listed) {
        const id = typeof entry === 'string' ? entry : entry && (entry.propertyId || entry.id);
        if (id) select.append(h('option', { value: id }, id));
      }
    }
    ensurePropertyOption(state.property);
    $('property').value = state.property;
  }

  function renderWindow(summary) {
    const line = $('window');
    if (!summary) {
      line.textContent = '';
      return;
    }
    const { window: current, compareTo: previous } = summary;
    const days = Math.round((Date.parse(current.to) - Date.parse(current.from)) / 864e5) + 1;
    const who = state.property ? `Property ${state.property}` : 'All properties';
    line.textContent =
      `${who}: ${current.from} to ${current.to} (${days} ${days === 1 ? 'day' : 'days'}, UTC)` +
      (previous ? `, compared with ${previous.from} to ${previous.to}.` : ', no comparison.');
    if (state.period !== 'custom') {
      $('from').value = current.from;
      $('to').value = current.to;
    }
  }

  function ago(ms) {
    const minutes = Math.round(ms / 60000);
    if (minutes < 1) return 'just now';
    if (minutes < 90) return `${minutes} min ago`;
    const hours = Math.round(minutes / 60);
    return hours < 48 ? `${hours} h ago` : `${Math.round(hours / 24)} days ago`;
  }

  function renderFreshness(answer) {
    const badge = $('freshness');
    const freshness = answer && answer.freshness;
    badge.hidden = !freshness;
    if (!freshness) return;
    const at = freshness.generatedAt ? Date.parse(freshness.generatedAt) : NaN;
    const stale = Number.isNaN(at) || Date.now() - at > STALE_AFTER_MS;
    badge.classList.toggle('stale', stale);
    badge.textContent = Number.isNaN(at)
      ? 'Never rolled up: the numbers wait for the first rollup'
      : `Rolled up ${ago(Date.now() - at)}${stale ? ': late, the hourly rollup has not run' : ''}`;
    badge.title = freshness.rolledUpThrough ? `Complete days through ${freshness.rolledUpThrough}` : '';
  }

  function renderEmpty(summary) {
    const notice = $('empty');
    const empty =
      summary && !summary.metrics.uniqueVisitors.value && !summary.metrics.totalPageViews.value && !sum(summary.trend, 'newLeads');
    notice.hidden = !empty;
    if (empty) {
      notice.textContent = state.property
        ? `No visits recorded for property "${state.property}" in this window. Check that the tracker tag on your pages says data-property="${state.property}", or choose a longer window.`
        : 'No visits recorded in this window. Put the tracker on your pages (see the README, "Put it on your site"), or choose a longer window.';
    }
  }

  // ---- tiles ---------------------------------------------------------------------
  function leadsMetric(summary) {
    const value = sum(summary.trend, 'newLeads');
    const previous = Array.isArray(summary.compareTrend) ? sum(summary.compareTrend, 'newLeads') : null;
    return { value, delta: previous ? (value - previous) / previous : null };
  }

  function headlineTiles(summary) {
    const m = summary.metrics;
    return [
      { id: 'uniqueVisitors', label: 'Visitors', kind: 'count', metric: m.uniqueVisitors },
      { id: 'totalPageViews', label: 'Page views', kind: 'count', metric: m.totalPageViews },
      {
        id: 'leads', label: 'Leads', kind: 'count', metric: leadsMetric(summary),
        note: Array.isArray(summary.compareTrend) ? null : 'no previous days in the answer',
      },
      { id: 'leadCaptureRate', label: 'Lead capture rate', kind: 'pct', metric: m.leadCaptureRate },
      { id: 'landingPageConversionRate', label: 'Landing-page conversion', kind: 'pct', metric: m.landingPageConversionRate },
      { id: 'formCompletionRate', label: 'Form completion', kind: 'pct', metric: m.formCompletionRate },
      { id: 'avgTimeToFirstCaptureHrs', label: 'Time to first capture', kind: 'hours', metric: m.avgTimeToFirstCaptureHrs, lowerIsBetter: true },
    ];
  }

  function deltaLine(tile) {
    if (!state.compare) return null;
    const delta = tile.metric && tile.metric.delta;
    if (delta === null || delta === undefined) {
      return h('dd', { class: 'delta none' }, tile.note || 'no change to show (nothing before)');
    }
    const direction = delta > 0 ? 'up' : delta < 0 ? 'down' : 'flat';
    const better = tile.lowerIsBetter ? delta < 0 : delta > 0;
    const arrow = { up: '▲', down: '▼', flat: '=' }[direction];
    const tone = direction === 'flat' ? 'flat' : better ? 'up' : 'down';
    return h(
      'dd',
      { class: `delta ${tone}`, 'data-delta': String(delta) },
      `${arrow} ${percent.format(Math.abs(delta))} vs previous period`,
    );
  }

  function renderTiles(container, tiles) {
    container.replaceChildren(
      ...tiles.map((tile) =>
        h(
          'dl',
          { class: 'tile', 'data-metric': tile.id },
          h('dt', null, tile.label),
          h('dd', { class: 'value', 'data-value': raw(tile.metric ? tile.metric.value : null) }, shown(tile.metric ? tile.metric.value : null, tile.kind)),
          deltaLine(tile),
        ),
      ),
    );
  }

  // ---- charts --------------------------------------------------------------------
  function colour(series) {
    return getComputedStyle(document.querySelector(`[data-series="${series}"]`)).color;
  }

  function faded(rgb) {
    const parts = rgb.match(/\d+(\.\d+)?/g) || ['0', '0', '0'];
    return `rgba(${parts[0]}, ${parts[1]}, ${parts[2]}, 0.35)`;
  }

  function destroyCharts() {
    for (const chart of charts) chart.destroy();
    charts = [];
  }

  const epochSeconds = (day) => Date.parse(`${day}T00:00:00Z`) / 1000;

  function chart(container, days, lines, labels) {
    container.replaceChildren();
    if (typeof uPlot !== 'function') {
      container.append(h('p', { class: 'muted' }, 'The chart library did not load: the table below has the same numbers.'));
      return;
    }
    if (!days.length) {
      container.append(h('p', { class: 'muted' }, 'No days in this window.'));
      return;
    }
    const forced = matchMedia('(forced-colors: active)').matches;
    const grid = { stroke: colour('grid'), width: 1 };
    const axis = (scale, side) => ({
      scale, side, label: labels[scale], stroke: colour('text'), grid: side === 1 ? { show: false } : grid, ticks: grid,
    });
    const scales = [...new Set(lines.map((line) => line.scale))];
    const options = {
      width: Math.max(container.clientWidth, 280),
      height: 260,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC'),
      scales: { x: { time: true } },
      axes: [{ stroke: colour('text'), grid, ticks: grid }, ...scales.map((scale, index) => axis(scale, index ? 1 : 3))],
      series: [
        { label: 'Day', value: (u, ts) => (ts === null ? '–' : new Date(ts * 1e3).toISOString().slice(0, 10)) },
        ...lines.map((line, index) => ({
          label: line.label,
          scale: line.scale,
          stroke: line.previous ? faded(colour(line.colour)) : colour(line.colour),
          width: line.previous ? 1.5 : 2,
          dash: line.previous ? [5, 4] : forced ? [[], [8, 3], [2, 3]][index % 3] : undefined,
          value: (u, v) => shown(v, 'count'),
        })),
      ],
    };
    const plot = new uPlot(options, [days.map(epochSeconds), ...lines.map((line) => line.values)], container);
    charts.push(plot);
  }

  function renderTrend(summary) {
    const container = $('trend-chart');
    const trend = summary ? summary.trend : [];
    const previous = summary && state.compare && Array.isArray(summary.compareTrend) ? summary.compareTrend : null;
    $('trend-hint').textContent = !state.compare
      ? 'Comparison is off.'
      : previous
        ? 'The previous period is drawn faintly behind, day by day.'
        : 'The answer has no days of the previous period: only this window is drawn.';
    destroyCharts();
    const aligned = (field) => trend.map((_, index) => (previous && previous[index] ? previous[index][field] : null));
    const lines = [];
    if (previous) {
      lines.push(
        { label: 'Visitors, previous', colour: 'visitors', scale: 'count', values: aligned('uniqueVisitors'), previous: true },
        { label: 'Page views, previous', colour: 'pageViews', scale: 'count', values: aligned('pageViews'), previous: true },
        { label: 'Leads, previous', colour: 'leads', scale: 'leads', values: aligned('newLeads'), previous: true },
      );
    }
    lines.push(
      { label: 'Visitors', colour: 'visitors', scale: 'count', values: trend.map((day) => day.uniqueVisitors) },
      { label: 'Page views', colour: 'pageViews', scale: 'count', values: trend.map((day) => day.pageViews) },
      { label: 'Leads', colour: 'leads', scale: 'leads', values: trend.map((day) => day.newLeads) },
    );
    if (summary) chart(container, trend.map((day) => day.day), lines, { count: 'Visitors, page views', leads: 'Leads' });
    else container.replaceChildren();

    const columns = [
      { key: 'day', label: 'Day', kind: 'text' },
      { key: 'uniqueVisitors', label: 'Visitors', kind: 'count' },
      { key: 'pageViews', label: 'Page views', kind: 'count' },
      { key: 'newLeads', label: 'Leads', kind: 'count' },
    ];
    const rows = trend.map((day, index) => {
      const row = { ...day };
      if (previous && previous[index]) {
        row.previousDay = previous[index].day;
        row.previousUniqueVisitors = previous[index].uniqueVisitors;
        row.previousPageViews = previous[index].pageViews;
        row.previousNewLeads = previous[index].newLeads;
      }
      return row;
    });
    if (previous) {
      columns.push(
        { key: 'previousDay', label: 'Previous day', kind: 'text' },
        { key: 'previousUniqueVisitors', label: 'Visitors then', kind: 'count' },
        { key: 'previousPageViews', label: 'Page views then', kind: 'count' },
        { key: 'previousNewLeads', label: 'Leads then', kind: 'count' },
      );
    }
    renderTable('trend', { title: 'visitors, page views and leads per day', columns, rows: summary ? rows : null });
  }

  // ---- tables --------------------------------------------------------------------
  const LABELS = {
    visitors: 'Visitors', pageViews: 'Page views', entrances: 'Entrances', leads: 'Leads',
    conversions: 'Conversions', sessions: 'Sessions',
  };

  function renderTable(name, { title, columns, rows, bar, unavailable, emptyText }) {
    const holder = document.querySelector(`[data-table="${name}"]`);
    tables[name] = rows ? { title, columns, rows } : null;
    if (!rows) {
      holder.replaceChildren(
        h('p', { class: 'muted', 'data-state': 'unavailable' }, unavailable || (errors.summary ? 'Not loaded.' : '')),
      );
      return;
    }
    if (!rows.length) {
      holder.replaceChildren(
        h('p', { class: 'muted', 'data-state': 'empty' }, emptyText || 'Nothing in this window: choose a longer one, or another property.'),
      );
      return;
    }
    const largest = bar ? Math.max(...rows.map((row) => row[bar] || 0), 1) : 0;
    const table = h(
      'table',
      null,
      h('thead', null, h('tr', null, columns.map((column) => h('th', { scope: 'col' }, column.label)), bar ? h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Bar')) : null)),
      h(
        'tbody',
        null,
        rows.map((row) => {
          const cells = columns.map((column, index) =>
            h(
              index ? 'td' : 'th',
              { scope: index ? null : 'row', 'data-column': column.key, 'data-value': raw(row[column.key]) },
              shown(row[column.key], column.kind === 'row' ? row.kind : column.kind),
            ),
          );
          if (bar) {
            const meter = h('span', { class: 'meter', 'aria-hidden': 'true' });
            meter.style.width = `${Math.round(((row[bar] || 0) / largest) * 100)}%`;
            cells.push(h('td', { class: 'share' }, meter));
          }
          return h('tr', null, cells);
        }),
      ),
    );
    holder.replaceChildren(
      h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': title }, table),
      h(
        'div',
        { class: 'table-foot' },
        h('span', { class: 'muted' }, `${rows.length} ${rows.length === 1 ? 'row' : 'rows'}`),
        h('button', { type: 'button', class: 'csv', 'data-csv': name, 'aria-label': `Download ${title} as CSV`, onclick: () => download(name) }, 'Download CSV'),
      ),
    );
  }

  function renderBreakdown(name, summary) {
    const titles = {
      sources: 'traffic sources', landingPages: 'top landing pages', topPages: 'top pages',
      devices: 'devices', countries: 'countries',
    };
    const keyLabels = { sources: 'Source', landingPages: 'Landing page', topPages: 'Page', devices: 'Device', countries: 'Country' };
    const rows = summary && summary.breakdowns && Array.isArray(summary.breakdowns[name]) ? summary.breakdowns[name] : null;
    const counts = rows && rows.length ? Object.keys(rows[0]).filter((key) => key !== 'key' && typeof rows[0][key] === 'number') : ['visitors', 'pageViews'];
    renderTable(name, {
      title: titles[name],
      columns: [{ key: 'key', label: keyLabels[name], kind: 'text' }, ...counts.map((key) => ({ key, label: LABELS[key] || key, kind: 'count' }))],
      rows,
      bar: counts[0],
      unavailable: summary ? 'The summary came without breakdowns.' : null,
    });
  }

  function renderNow() {
    const line = $('now');
    const now = data.now;
    if (now && typeof now.visitors === 'number') {
      const minutes = Math.round((now.windowSeconds || 300) / 60);
      const at = now.asOf ? new Date(now.asOf).toISOString().slice(11, 16) : '';
      line.textContent = `${integer.format(now.visitors)} ${now.visitors === 1 ? 'visitor' : 'visitors'} in the last ${minutes} minutes`;
      line.append(h('span', { class: 'muted' }, at ? ` (at ${at} UTC)` : ''));
      line.dataset.visitors = String(now.visitors);
    } else {
      line.textContent = errors.now ? explain(errors.now) : '';
      delete line.dataset.visitors;
      line.classList.add('muted');
      return;
    }
    line.classList.remove('muted');
  }

  const STEPS = [
    { key: 'marketingVisitors', label: 'Visitors' },
    { key: 'leadsCaptured', label: 'Leads' },
    { key: 'tenantsCreated', label: 'Tenants (signed up)' },
    { key: 'tenantsWithApiKey', label: 'With an API key' },
    { key: 'tenantsWithFirstScan', label: 'With a first scan' },
    { key: 'tenantsActive30d', label: 'Active (a scan in 30 days)' },
  ];

  function renderFunnel(summary) {
    const funnel = summary && summary.funnel;
    const rows = funnel
      ? STEPS.map((step, index) => {
          const count = funnel[step.key];
          const before = index ? funnel[STEPS[index - 1].key] : null;
          return { step: step.label, field: step.key, count, rate: index && before ? count / before : null };
        })
      : null;
    renderTable('funnel', {
      title: 'acquisition funnel',
      columns: [
        { key: 'step', label: 'Step', kind: 'text' },
        { key: 'count', label: 'Count', kind: 'count' },
        { key: 'rate', label: 'Step rate', kind: 'pct' },
      ],
      rows,
      bar: 'count',
      unavailable: summary ? 'The summary has no funnel.' : null,
    });
  }

  function renderFunnelByGroup() {
    const usage = data.usage;
    const grouped = usage && usage.funnelByGroup;
    const rows = grouped
      ? Object.entries(grouped.groups)
          .map(([key, funnel]) => ({ key, ...funnel }))
          .sort((a, b) => b.leadsCaptured - a.leadsCaptured || b.tenantsCreated - a.tenantsCreated || a.key.localeCompare(b.key))
      : null;
    const label = { channel: 'Channel', utm_source: 'UTM source', utm_campaign: 'Campaign' }[state.groupBy];
    renderTable('funnelByGroup', {
      title: `funnel by ${label.toLowerCase()}`,
      columns: [
        { key: 'key', label, kind: 'text' },
        { key: 'marketingVisitors', label: 'Visitors', kind: 'count' },
        { key: 'leadsCaptured', label: 'Leads', kind: 'count' },
        { key: 'tenantsCreated', label: 'Tenants', kind: 'count' },
        { key: 'tenantsWithApiKey', label: 'API key', kind: 'count' },
        { key: 'tenantsWithFirstScan', label: 'First scan', kind: 'count' },
        { key: 'tenantsActive30d', label: 'Active', kind: 'count' },
        { key: 'leadToTenantConversionRate', label: 'Lead to tenant', kind: 'pct' },
      ],
      rows,
      bar: 'leadsCaptured',
      unavailable: errors.usage ? explain(errors.usage) : null,
      emptyText: 'No leads or tenants in this window.',
    });
  }

  function renderUsage() {
    const usage = data.usage;
    const u = usage && usage.usage;
    renderTiles(
      $('usage-tiles'),
      u
        ? [
            { id: 'totalScansCompleted', label: 'Scans completed', kind: 'count', metric: u.totalScansCompleted },
            { id: 'totalScansFailed', label: 'Scans failed', kind: 'count', metric: u.totalScansFailed, lowerIsBetter: true },
            { id: 'scanSuccessRate', label: 'Scan success', kind: 'pct', metric: u.scanSuccessRate },
            { id: 'totalMediaProcessed', label: 'Media processed', kind: 'count', metric: u.totalMediaProcessed },
            { id: 'avgScanDurationMs', label: 'Scan duration (mean)', kind: 'ms', metric: u.avgScanDurationMs, lowerIsBetter: true },
            { id: 'suggestionResolutionRate', label: 'Suggestions resolved', kind: 'pct', metric: u.suggestionResolutionRate },
            {
              id: 'timeToFirstScan', label: 'Time to first scan (median)', kind: 'hours',
              metric: { value: usage.funnel.timeToFirstScanHours.median, delta: null }, note: 'of the tenants signed up in this window',
            },
          ]
        : [],
    );
    const trend = usage ? usage.trend : [];
    const container = $('usage-chart');
    if (usage) {
      chart(container, trend.map((day) => day.day), [
        { label: 'Scans completed', colour: 'visitors', scale: 'count', values: trend.map((day) => day.scansCompleted) },
        { label: 'Media processed', colour: 'pageViews', scale: 'media', values: trend.map((day) => day.mediaProcessed) },
      ], { count: 'Scans', media: 'Media' });
    } else {
      container.replaceChildren(h('p', { class: 'muted' }, errors.usage ? explain(errors.usage) : ''));
    }
    renderTable('usageTrend', {
      title: 'service usage per day',
      columns: [
        { key: 'day', label: 'Day', kind: 'text' },
        { key: 'scansCompleted', label: 'Scans completed', kind: 'count' },
        { key: 'mediaProcessed', label: 'Media processed', kind: 'count' },
        { key: 'identitiesDetected', label: 'Identities detected', kind: 'count' },
      ],
      rows: usage ? trend : null,
      unavailable: errors.usage ? explain(errors.usage) : null,
    });
  }

  function renderIngest(summary) {
    const ingest = summary && summary.ingest;
    const measures = {
      totalEventsAccepted: ['Events accepted', 'count'],
      totalEventsRejected: ['Events rejected', 'count'],
      totalEventsDuplicate: ['Duplicates (sent again, stored once)', 'count'],
      totalEventsBot: ['Bots (not stored)', 'count'],
      successPct: ['Accepted of all', 'pct'],
      p95TtfbMs: ['Time to first byte, p95', 'ms'],
    };
    const known = Object.keys(measures);
    const order = (key) => (known.includes(key) ? known.indexOf(key) : known.length);
    const rows = ingest
      ? Object.entries(ingest)
          .sort(([a], [b]) => order(a) - order(b))
          .map(([key, value]) => {
          const [label, kind] = measures[key] || [key, typeof value === 'number' ? 'count' : 'text'];
          return { measure: label, field: key, value, kind };
        })
      : null;
    renderTable('ingest', {
      title: 'ingest health',
      columns: [
        { key: 'measure', label: 'Measure', kind: 'text' },
        { key: 'value', label: 'Value', kind: 'row' },
      ],
      rows,
      unavailable: summary ? 'The summary has no ingest numbers.' : null,
    });
  }

  // ---- CSV -----------------------------------------------------------------------
  function csvCell(value) {
    if (value === null || value === undefined) return '';
    let text = String(value);
    // A cell a spreadsheet would read as a formula (a campaign name is anyone's input).
    if (/^[=+\-@\t\r]/.test(text) && typeof value === 'string') text = `'${text}`;
    return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  }

  function download(name) {
    const table = tables[name];
    if (!table) return;
    // Raw values under the API's field names (ingest: the measure's field and its value).
    const columns = name === 'ingest' ? ['field', 'value'] : name === 'funnel' ? ['field', 'count', 'rate'] : table.columns.map((c) => c.key);
    const lines = [columns.join(','), ...table.rows.map((row) => columns.map((column) => csvCell(row[column])).join(','))];
    const { window: current } = data.summary || data.usage || { window: { from: 'window', to: '' } };
    const scope = state.property && !['funnelByGroup', 'usageTrend'].includes(name) ? `${state.property}-` : '';
    const file = `funnel-${name}-${scope}${current.from}-to-${current.to}.csv`.replace(/[^A-Za-z0-9._-]+/g, '_');
    const url = URL.createObjectURL(new Blob([`${lines.join('\r\n')}\r\n`], { type: 'text/csv;charset=utf-8' }));
    const link = h('a', { href: url, download: file });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  // ---- wiring --------------------------------------------------------------------
  function choose(parts) {
    writeHash();
    load(parts);
  }

  function wire() {
    $('signin-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const key = $('key').value.trim();
      if (!key) return;
      sessionStorage.setItem(KEY_STORAGE, key);
      start();
      $('main').focus();
    });
    $('signout').addEventListener('click', () => signOut(''));
    $('retry').addEventListener('click', () => load(['summary', 'usage', 'now']));
    $('property').addEventListener('change', () => {
      state.property = $('property').value;
      choose(['summary', 'now']);
    });
    $('period').addEventListener('change', () => {
      const period = $('period').value;
      $('custom').hidden = period !== 'custom';
      if (period === 'custom') {
        $('from').focus();
        return;
      }
      state.period = period;
      choose(['summary', 'usage']);
    });
    $('controls').addEventListener('submit', (event) => {
      event.preventDefault();
      if ($('period').value !== 'custom') return;
      const from = $('from').value;
      const to = $('to').value;
      if (!from || !to || from > to) {
        $('problem').hidden = false;
        $('problem-text').textContent = 'Choose a first day on or before the last day.';
        return;
      }
      Object.assign(state, { period: 'custom', from, to });
      choose(['summary', 'usage']);
    });
    $('compare').addEventListener('change', () => {
      state.compare = $('compare').checked;
      choose(['summary', 'usage']);
    });
    $('group-by').addEventListener('change', () => {
      state.groupBy = $('group-by').value;
      choose(['usage']);
    });
    let pending = 0;
    addEventListener('resize', () => {
      cancelAnimationFrame(pending);
      pending = requestAnimationFrame(() => {
        for (const plot of charts) plot.setSize({ width: Math.max(plot.root.parentElement.clientWidth, 280), height: 260 });
      });
    });
  }

  wire();
  readHash();
  if (storedKey()) start();
  else showSignIn('');
})();
