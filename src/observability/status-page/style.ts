/** The status page's style: light and dark from the browser's preference, one column on a phone. */
export const STATUS_STYLE = `:root {
  color-scheme: light dark;
  --bg: #ffffff; --fg: #1f2328; --muted: #59636e; --card: #f6f8fa; --border: #d1d9e0;
  --accent: #0969da; --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e;
  --c1: #0969da; --c2: #bf3989; --c3: #1a7f37; --grid: rgba(0, 0, 0, 0.08);
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0d1117; --fg: #e6edf3; --muted: #9198a1; --card: #151b23; --border: #3d444d;
    --accent: #4493f8; --ok: #3fb950; --warn: #d29922; --bad: #f85149;
    --c1: #4493f8; --c2: #db61a2; --c3: #3fb950; --grid: rgba(255, 255, 255, 0.1);
  }
}
* { box-sizing: border-box; }
html { background: var(--bg); color: var(--fg); }
body { margin: 0 auto; max-width: 1200px; padding: 1rem; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
h1 { font-size: 1.5rem; margin: 0 0 0.25rem; }
h2 { font-size: 1.05rem; margin: 0 0 0.5rem; }
section { margin: 1.25rem 0; }
a { color: var(--accent); }
.mono, td, .badge { font-variant-numeric: tabular-nums; }
.mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.muted { color: var(--muted); margin: 0.25rem 0; }
.skip { position: absolute; left: -10000px; }
.skip:focus { left: 1rem; top: 1rem; background: var(--bg); padding: 0.5rem; z-index: 10; }
.visually-hidden { position: absolute !important; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); clip-path: inset(50%); white-space: nowrap; }
.state-line { margin: 0.25rem 0; font-size: 1.05rem; }
.badge { display: inline-block; padding: 0.1rem 0.6rem; border-radius: 1rem; border: 1px solid currentColor; font-weight: 600; }
.badge.listening { color: var(--ok); }
.badge.stopping, .badge.draining { color: var(--warn); }
.badge.closed, .badge.lost { color: var(--bad); }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(260px, 1fr)); gap: 1rem; }
.card { background: var(--card); border: 1px solid var(--border); border-radius: 8px; padding: 0.75rem 1rem; margin: 0; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.2rem 1rem; margin: 0; }
dt { color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 1rem; }
figure { margin: 0; background: var(--card); border: 1px solid var(--border); border-radius: 8px; padding: 0.5rem; min-width: 0; }
figcaption { font-weight: 600; margin-bottom: 0.25rem; }
.chart { min-height: 170px; }
.uplot, .uplot .u-legend { font-family: inherit; color: var(--fg); }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 0.3rem 0.6rem; border-bottom: 1px solid var(--border); white-space: nowrap; }
td.wrap { white-space: normal; overflow-wrap: anywhere; min-width: 10rem; }
thead th { color: var(--muted); font-weight: 600; }
.num { text-align: right; }
th button { font: inherit; color: inherit; background: none; border: 0; padding: 0; cursor: pointer; text-decoration: underline dotted; }
th[aria-sort="ascending"] button::after { content: " ▲"; }
th[aria-sort="descending"] button::after { content: " ▼"; }
button:focus-visible, a:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
.pager { display: flex; gap: 1rem; align-items: center; margin-top: 0.5rem; }
.pager button { font: inherit; padding: 0.3rem 0.8rem; border: 1px solid var(--border); border-radius: 6px; background: var(--card); color: var(--fg); }
.pager button:disabled { opacity: 0.5; }
footer { margin-top: 2rem; }
@media (max-width: 600px) {
  body { padding: 0.6rem; font-size: 14px; }
  th, td { padding: 0.25rem 0.4rem; }
}
`;
