/**
 * The status page's markup: landmarks, headings and empty containers only. Every value is
 * filled in by the script (script.ts) with textContent, so nothing a client sent is ever parsed
 * as HTML. No inline script or style: the Content-Security-Policy allows neither.
 */
export const STATUS_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>echod status</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/status/uplot.min.css">
<link rel="stylesheet" href="/status/app.css">
<script src="/status/uplot.min.js" defer></script>
<script src="/status/app.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header>
  <h1>echod <span id="server-id" class="mono"></span></h1>
  <p class="state-line"><span id="state" class="badge" role="status" aria-live="polite">connecting…</span> <span id="countdown"></span></p>
  <p id="feed" class="muted"></p>
</header>
<main id="main">
  <div class="cards">
    <section aria-labelledby="h-server" class="card">
      <h2 id="h-server">Server</h2>
      <dl id="server"></dl>
    </section>
    <section aria-labelledby="h-connections" class="card">
      <h2 id="h-connections">Connections</h2>
      <dl id="connections"></dl>
    </section>
    <section aria-labelledby="h-traffic" class="card">
      <h2 id="h-traffic">Traffic</h2>
      <dl id="traffic"></dl>
    </section>
  </div>
  <section aria-labelledby="h-rates">
    <h2 id="h-rates">Rates, last minutes</h2>
    <p id="rates-summary" class="visually-hidden"></p>
    <div class="charts">
      <figure><figcaption id="cap-connections">New connections per second</figcaption><div id="chart-connections" class="chart" role="img" aria-labelledby="cap-connections"></div></figure>
      <figure><figcaption id="cap-lines">Lines echoed per second</figcaption><div id="chart-lines" class="chart" role="img" aria-labelledby="cap-lines"></div></figure>
      <figure><figcaption id="cap-bytes">Bytes per second, in and out</figcaption><div id="chart-bytes" class="chart" role="img" aria-labelledby="cap-bytes"></div></figure>
    </div>
  </section>
  <section aria-labelledby="h-listeners">
    <h2 id="h-listeners">Listeners</h2>
    <div class="scroll"><table id="listeners">
      <thead><tr><th scope="col">URL</th><th scope="col">Protocol</th><th scope="col">Mode</th><th scope="col">PROXY</th><th scope="col">TLS</th><th scope="col" class="num">Open</th><th scope="col" class="num">Served</th></tr></thead>
      <tbody></tbody>
    </table></div>
  </section>
  <div class="cards">
    <section aria-labelledby="h-closed" class="card">
      <h2 id="h-closed">Close reasons</h2>
      <table id="closed"><thead><tr><th scope="col">Reason</th><th scope="col" class="num">Connections</th></tr></thead><tbody></tbody></table>
    </section>
    <section aria-labelledby="h-rejected" class="card">
      <h2 id="h-rejected">Refusals</h2>
      <table id="rejected"><thead><tr><th scope="col">Reason</th><th scope="col" class="num">Connections</th></tr></thead><tbody></tbody></table>
      <p>TLS handshake failures: <strong id="tls-failures">0</strong></p>
    </section>
    <section aria-labelledby="h-udp" class="card">
      <h2 id="h-udp">UDP</h2>
      <table id="udp"><thead><tr><th scope="col">Datagrams</th><th scope="col" class="num">Count</th></tr></thead><tbody></tbody></table>
    </section>
  </div>
  <section aria-labelledby="h-workers" id="workers-section" hidden>
    <h2 id="h-workers">Workers</h2>
    <div class="scroll"><table id="workers">
      <thead><tr><th scope="col">Worker</th><th scope="col">PID</th><th scope="col">State</th><th scope="col" class="num">Connections</th><th scope="col" class="num">Restarts</th></tr></thead>
      <tbody></tbody>
    </table></div>
  </section>
  <section aria-labelledby="h-open">
    <h2 id="h-open">Open connections</h2>
    <div class="scroll"><table id="open">
      <caption class="visually-hidden">Open connections; column headers with buttons sort the table</caption>
      <thead><tr>
        <th scope="col" data-sort="id"><button type="button">ID</button></th>
        <th scope="col" data-sort="remote"><button type="button">Remote</button></th>
        <th scope="col">PROXY source</th>
        <th scope="col" data-sort="listener"><button type="button">Listener</button></th>
        <th scope="col">TLS</th>
        <th scope="col" data-sort="bytesIn" class="num"><button type="button">In</button></th>
        <th scope="col" data-sort="bytesOut" class="num"><button type="button">Out</button></th>
        <th scope="col" data-sort="lines" class="num"><button type="button">Lines</button></th>
        <th scope="col" data-sort="ageMs" class="num"><button type="button">Age</button></th>
        <th scope="col" data-sort="idleMs" class="num"><button type="button">Idle</button></th>
      </tr></thead>
      <tbody></tbody>
    </table></div>
    <nav class="pager" aria-label="Open connections pages">
      <button type="button" id="prev">Previous</button>
      <span id="page-info" aria-live="polite"></span>
      <button type="button" id="next">Next</button>
    </nav>
  </section>
</main>
<footer><p class="muted">Updates every second from <a href="/api/status">/api/status</a> · <a href="/metrics">/metrics</a> · <a href="/stats">/stats</a></p></footer>
</body>
</html>
`;
