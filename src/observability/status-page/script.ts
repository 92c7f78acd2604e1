/**
 * The status page's script, served as /status/app.js. Plain ES2020 for the browser, kept as a
 * string so the build needs no copy step. It polls /api/status and /api/connections once a
 * second and builds the DOM with createElement and textContent only: remote addresses, PROXY
 * sources and SNI names are attacker-controlled and must never be parsed as HTML.
 */
export const STATUS_SCRIPT = String.raw`(function () {
  'use strict';
  var TICK_MS = 1000;
  var PAGE_SIZE = 25;
  var CHART_HEIGHT = 160;
  var table = { sort: 'id', order: 'asc', offset: 0, total: 0 };
  var charts = null;
  var lastHistory = null;
  var lastState = '';

  function byId(id) { return document.getElementById(id); }
  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }
  function setText(id, text) {
    var node = byId(id);
    if (node.textContent !== text) node.textContent = text;
  }
  function int(n) { return Number(n).toLocaleString('en-US'); }
  function bytes(n) {
    var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    var value = Number(n);
    var i = 0;
    while (Math.abs(value) >= 1024 && i < units.length - 1) { value /= 1024; i++; }
    return (i === 0 ? String(Math.round(value)) : value.toFixed(value < 10 ? 2 : 1)) + ' ' + units[i];
  }
  function rate(n) { var v = Number(n); return v >= 100 ? int(Math.round(v)) : String(Math.round(v * 10) / 10); }
  function duration(seconds) {
    var s = Math.max(0, Math.floor(seconds));
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    s = s % 60;
    if (d > 0) return d + 'd ' + h + 'h ' + m + 'm';
    if (h > 0) return h + 'h ' + m + 'm ' + s + 's';
    if (m > 0) return m + 'm ' + s + 's';
    return s + 's';
  }
  function millis(ms) { return ms < 1000 ? Math.round(ms) + ' ms' : duration(ms / 1000); }
  function address(a) { return a ? (a.address.indexOf(':') >= 0 ? '[' + a.address + ']' : a.address) + ':' + a.port : ''; }

  function fillList(id, pairs) {
    var dl = byId(id);
    var items = [];
    pairs.forEach(function (pair) { items.push(el('dt', pair[0]), el('dd', pair[1])); });
    dl.replaceChildren.apply(dl, items);
  }
  /** rows: arrays of cells; a cell is text, or { text, className }. The first cell is the row's header. */
  function fillRows(tableId, rows, empty) {
    var tbody = byId(tableId).tBodies[0];
    var trs = rows.map(function (cells) {
      var tr = document.createElement('tr');
      cells.forEach(function (cell, i) {
        var td = el(i === 0 ? 'th' : 'td', typeof cell === 'object' && cell !== null ? cell.text : cell, typeof cell === 'object' && cell !== null ? cell.className : '');
        if (i === 0) td.setAttribute('scope', 'row');
        tr.appendChild(td);
      });
      return tr;
    });
    if (trs.length === 0 && empty) {
      var tr = document.createElement('tr');
      var td = el('td', empty, 'muted');
      td.colSpan = byId(tableId).tHead.rows[0].cells.length;
      tr.appendChild(td);
      trs.push(tr);
    }
    tbody.replaceChildren.apply(tbody, trs);
  }
  function num(n) { return { text: int(n), className: 'num' }; }
  function counts(record) {
    return Object.keys(record).map(function (key) { return [key, num(record[key])]; });
  }

  function renderState(s) {
    var server = s.server;
    var label = server.state + (server.ready ? ' · ready' : ' · not ready');
    var badge = byId('state');
    if (label !== lastState) {
      badge.textContent = label;
      badge.className = 'badge ' + server.state;
      lastState = label;
    }
    var countdown = '';
    if (server.shutdown) {
      countdown = server.shutdown.next === 'stop_accepting'
        ? 'stops accepting in ' + server.shutdown.secondsLeft + ' s'
        : 'draining: connections still open are closed by force in ' + server.shutdown.secondsLeft + ' s';
    }
    setText('countdown', countdown);
  }

  function render(s) {
    var server = s.server;
    setText('server-id', server.id);
    document.title = 'echod ' + server.id + ' — ' + server.state;
    renderState(s);
    fillList('server', [
      ['Server id', server.id], ['Version', server.version], ['Runtime', server.runtime], ['PID', String(server.pid)],
      ['Started', server.startedAt || '—'], ['Uptime', duration(server.uptimeSeconds)],
      ['State', server.state], ['Ready', server.ready ? 'yes' : 'no'],
    ]);
    var c = s.connections;
    fillList('connections', [
      ['Open now', int(c.active)], ['Peak', int(c.peak)], ['Limit', c.limit > 0 ? int(c.limit) : 'none'],
      ['Served', int(c.total)], ['Closed by force', int(c.forced)], ['Internal errors', int(s.internalErrors)],
    ]);
    fillList('traffic', [
      ['Bytes in', bytes(s.traffic.bytesIn)], ['Bytes out', bytes(s.traffic.bytesOut)], ['Lines echoed', int(s.traffic.lines)],
    ]);
    fillRows('listeners', s.listeners.map(function (l) {
      var tls = l.tls ? l.tls.minVersion + '+, client cert ' + l.tls.clientAuth + (l.tls.selfSigned ? ', self-signed' : '') : '—';
      return [{ text: l.url, className: 'mono' }, l.protocol, l.mode, l.proxyProtocol, tls, num(l.active), num(l.total)];
    }), 'no listeners');
    fillRows('closed', counts(s.closed));
    fillRows('rejected', counts(s.rejected));
    setText('tls-failures', int(s.tlsHandshakeFailures));
    var udp = s.udp;
    fillRows('udp', [['received', num(udp.received)], ['replied', num(udp.echoed)], ['duplicated', num(udp.duplicated)]].concat(
      Object.keys(udp.dropped).map(function (reason) { return ['dropped: ' + reason, num(udp.dropped[reason])]; })));
    var section = byId('workers-section');
    section.hidden = !s.workers;
    if (s.workers) {
      fillRows('workers', s.workers.map(function (w) {
        return [String(w.index), w.pid === null ? '—' : String(w.pid), w.listening ? 'listening' : w.pid === null ? 'restarting' : 'starting', num(w.connections), num(w.restarts)];
      }));
    }
    renderCharts(s.history);
    document.body.dataset.generatedAt = s.generatedAt;
  }

  // ---- charts ----
  function cssVar(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }
  function chartWidth(id) { return Math.max(240, byId(id).clientWidth - 4); }
  function axis(format) {
    var stroke = cssVar('--muted');
    var grid = { stroke: cssVar('--grid'), width: 1 };
    return { stroke: stroke, grid: grid, ticks: grid, size: 56, values: format ? function (u, values) { return values.map(format); } : undefined };
  }
  function makeChart(id, series, format) {
    var options = {
      width: chartWidth(id), height: CHART_HEIGHT,
      scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, Math.max(1, max * 1.1)]; } } },
      axes: [axis(null), axis(format)],
      series: [{}].concat(series.map(function (s) {
        return { label: s.label, stroke: cssVar(s.color), width: 2, value: function (u, v) { return v === null || v === undefined ? '—' : format(v); } };
      })),
      legend: { show: true },
    };
    var target = byId(id);
    target.replaceChildren();
    return new window.uPlot(options, [[]].concat(series.map(function () { return []; })), target);
  }
  function buildCharts() {
    if (typeof window.uPlot !== 'function') return null;
    if (charts) charts.forEach(function (c) { c.destroy(); });
    return [
      makeChart('chart-connections', [{ label: 'connections/s', color: '--c1' }], rate),
      makeChart('chart-lines', [{ label: 'lines/s', color: '--c3' }], rate),
      makeChart('chart-bytes', [{ label: 'in', color: '--c1' }, { label: 'out', color: '--c2' }], function (v) { return bytes(v) + '/s'; }),
    ];
  }
  function renderCharts(h) {
    lastHistory = h;
    if (charts === null) charts = buildCharts();
    if (charts) {
      charts[0].setData([h.t, h.connections]);
      charts[1].setData([h.t, h.lines]);
      charts[2].setData([h.t, h.bytesIn, h.bytesOut]);
    }
    var n = h.t.length;
    var last = function (series) { return n > 0 ? series[n - 1] : 0; };
    var summary = 'Over the last ' + duration(n) + ': now ' + rate(last(h.connections)) + ' new connections per second, ' + rate(last(h.lines)) +
      ' lines per second, ' + bytes(last(h.bytesIn)) + ' per second in and ' + bytes(last(h.bytesOut)) + ' per second out.';
    setText('rates-summary', summary);
    byId('chart-connections').setAttribute('aria-label', 'New connections per second over the last ' + duration(n) + '; now ' + rate(last(h.connections)));
    byId('chart-lines').setAttribute('aria-label', 'Lines echoed per second over the last ' + duration(n) + '; now ' + rate(last(h.lines)));
    byId('chart-bytes').setAttribute('aria-label', 'Bytes per second over the last ' + duration(n) + '; now ' + bytes(last(h.bytesIn)) + ' in, ' + bytes(last(h.bytesOut)) + ' out');
  }
  function redrawCharts() {
    charts = buildCharts();
    if (lastHistory) renderCharts(lastHistory);
  }
  window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', redrawCharts);
  var resizeTimer = null;
  window.addEventListener('resize', function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () {
      if (!charts) return;
      ['chart-connections', 'chart-lines', 'chart-bytes'].forEach(function (id, i) { charts[i].setSize({ width: chartWidth(id), height: CHART_HEIGHT }); });
    }, 150);
  });

  // ---- open connections ----
  function tlsText(tls) {
    if (!tls) return '—';
    var parts = [tls.version || '?'];
    if (tls.cipher) parts.push(tls.cipher);
    if (tls.servername) parts.push('SNI ' + tls.servername);
    if (tls.alpn) parts.push('ALPN ' + tls.alpn);
    if (tls.clientSubject) parts.push('client ' + tls.clientSubject);
    return parts.join(' · ');
  }
  function renderConnections(page) {
    table.total = page.total;
    fillRows('open', page.connections.map(function (c) {
      var proxy = c.proxySource ? address(c.proxySource) : c.via ? 'via ' + address(c.via) : '—';
      return [String(c.id), { text: address(c.remote), className: 'mono' }, { text: proxy, className: 'mono wrap' }, { text: c.listener, className: 'mono' },
        { text: tlsText(c.tls), className: 'wrap' }, { text: bytes(c.bytesIn), className: 'num' }, { text: bytes(c.bytesOut), className: 'num' },
        num(c.lines), { text: millis(c.ageMs), className: 'num' }, { text: millis(c.idleMs), className: 'num' }];
    }), 'no open connections');
    var first = page.total === 0 ? 0 : page.offset + 1;
    var lastRow = Math.min(page.total, page.offset + page.connections.length);
    setText('page-info', first + '–' + lastRow + ' of ' + int(page.total));
    byId('prev').disabled = table.offset === 0;
    byId('next').disabled = table.offset + PAGE_SIZE >= page.total;
  }
  function loadConnections() {
    var query = '?sort=' + encodeURIComponent(table.sort) + '&order=' + table.order + '&offset=' + table.offset + '&limit=' + PAGE_SIZE;
    return fetch('/api/connections' + query, { cache: 'no-store' }).then(function (r) {
      if (!r.ok) throw new Error('HTTP ' + r.status);
      return r.json();
    }).then(renderConnections);
  }
  function markSort() {
    document.querySelectorAll('#open th[data-sort]').forEach(function (th) {
      if (th.dataset.sort === table.sort) th.setAttribute('aria-sort', table.order === 'asc' ? 'ascending' : 'descending');
      else th.removeAttribute('aria-sort');
    });
  }
  document.querySelectorAll('#open th[data-sort] button').forEach(function (button) {
    button.addEventListener('click', function () {
      var key = button.parentElement.dataset.sort;
      table.order = table.sort === key && table.order === 'asc' ? 'desc' : 'asc';
      table.sort = key;
      table.offset = 0;
      markSort();
      loadConnections().catch(function () {});
    });
  });
  byId('prev').addEventListener('click', function () { table.offset = Math.max(0, table.offset - PAGE_SIZE); loadConnections().catch(function () {}); });
  byId('next').addEventListener('click', function () { if (table.offset + PAGE_SIZE < table.total) table.offset += PAGE_SIZE; loadConnections().catch(function () {}); });
  markSort();

  // ---- polling ----
  function tick() {
    fetch('/api/status', { cache: 'no-store' }).then(function (r) {
      if (!r.ok) throw new Error('HTTP ' + r.status);
      return r.json();
    }).then(function (s) {
      render(s);
      setText('feed', 'Updated ' + new Date(s.generatedAt).toLocaleTimeString());
      return loadConnections();
    }).catch(function () {
      setText('feed', 'No answer from echod; retrying every second');
      var badge = byId('state');
      if (lastState !== 'lost') { badge.textContent = 'unreachable'; badge.className = 'badge lost'; lastState = 'lost'; }
    }).then(function () { setTimeout(tick, TICK_MS); });
  }
  tick();
})();
`;
