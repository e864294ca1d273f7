/**
 * The dashboard's static assets, served from memory under `/assets/` (no CDN, no external
 * requests; the Content-Security-Policy allows only these).
 */

/**
 * `/assets/app.css`. Fits the window from phone width (390 px) up with no horizontal overflow:
 * long values wrap anywhere, tables become stacked cards below 700 px (each cell labelled by its
 * column from `data-label`), charts scale to their column.
 */
export const APP_CSS = `
*,*::before,*::after{box-sizing:border-box}
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{display:flex;flex-wrap:wrap;gap:.4em 1.5em;align-items:center;padding:.6em 1.2em;background:#1f2d3d;color:#fff}
header nav{display:flex;flex-wrap:wrap;gap:.2em 1em}
header a{color:#cfe3ff;text-decoration:none}
header .token{margin-left:auto;font-size:12px}
header .token input{max-width:12em}
header .readonly{background:#566573;padding:1px 8px;border-radius:8px}
main{padding:1em 1.5em;max-width:1200px}
h1{margin:.3em 0 .6em;overflow-wrap:anywhere}
table{border-collapse:collapse;margin:.5em 0 1.5em;background:#fff;width:100%}
th,td{border:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top;overflow-wrap:break-word}
th{background:#f0f3f6}
code{overflow-wrap:anywhere}
pre{margin:.3em 0 0;white-space:pre-wrap;overflow-wrap:anywhere;font-size:12px}
details.json summary{cursor:pointer}
.stage{padding:1px 6px;border-radius:8px;font-size:12px;background:#ddd}
.stage-production{background:#27ae60;color:#fff}.stage-staging{background:#f1c40f}
.stage-candidate{background:#aed6f1}.stage-archived{background:#ccc;color:#555}
.pass{color:#1e8449}.fail{color:#c0392b}.muted,.empty{color:#888}
.sev-critical{color:#fff;background:#c0392b;padding:1px 5px;border-radius:6px}
.sev-warning{background:#f5b041;padding:1px 5px;border-radius:6px}
.count{font-weight:600;white-space:nowrap}
details.gate{background:#fff;border:1px solid #ddd;margin:.3em 0;padding:.3em .6em;overflow-wrap:anywhere}
.examples figure{display:inline-block;margin:.3em;text-align:center;font-size:11px}
.examples img{image-rendering:pixelated;border:1px solid #999;max-width:100%;height:auto}
.panels{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,420px),1fr));gap:1em}
.panel{margin:0;background:#fff;border:1px solid #ddd;padding:.4em .6em;min-width:0}
.panel figcaption{font-weight:600;font-size:13px}
.panel svg.chart{display:block;width:100%;height:auto}
.legend{display:flex;flex-wrap:wrap;gap:.2em 1em;font-size:12px}
.legend svg{vertical-align:-1px}
button{cursor:pointer}
#toast{position:fixed;bottom:1em;right:1em;max-width:calc(100vw - 2em);background:#1f2d3d;color:#fff;padding:.5em 1em;border-radius:6px;display:none}
#toast.show{display:block}#toast.error{background:#c0392b}
@media (max-width:700px){
main{padding:.8em}
header .token{margin-left:0}
table,tbody,tr,td{display:block;width:100%}
thead{display:none}
tr{border:1px solid #ddd;margin-bottom:.6em;background:#fff}
td{border:0;border-bottom:1px solid #eee}
td:empty{display:none}
td{overflow-wrap:anywhere}
td::before{content:attr(data-label);display:block;font-size:11px;color:#666}
}
`;

/** `/assets/app.js`: promote / override / rollback buttons calling the JSON API with the token. */
export const APP_JS = `
(function () {
  'use strict';
  var tokenBox = document.getElementById('token');
  try { tokenBox.value = sessionStorage.getItem('antidote-token') || ''; } catch (e) {}
  tokenBox.addEventListener('change', function () {
    try { sessionStorage.setItem('antidote-token', tokenBox.value); } catch (e) {}
  });
  function toast(text, isError) {
    var t = document.getElementById('toast');
    t.textContent = text;
    t.className = 'show' + (isError ? ' error' : '');
  }
  function call(url, body) {
    return fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer ' + tokenBox.value },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (j) {
        if (!r.ok) throw new Error((j.error && j.error.message) || r.statusText);
        return j;
      });
    });
  }
  document.addEventListener('click', function (ev) {
    var b = ev.target.closest ? ev.target.closest('button[data-action]') : null;
    if (!b) return;
    var model = b.getAttribute('data-model');
    var version = b.getAttribute('data-version');
    var action = b.getAttribute('data-action');
    var url = '/api/models/' + encodeURIComponent(model) + '/' + (action === 'rollback' ? 'rollback' : 'promote');
    var body = { version: version };
    if (action === 'override') {
      var reason = window.prompt('Reason for overriding the gate (audited):');
      if (!reason) return;
      body.override = true;
      body.reason = reason;
    }
    if (action === 'rollback') {
      var why = window.prompt('Reason for the rollback (audited):', 'manual rollback');
      if (!why) return;
      body = { reason: why };
    }
    b.disabled = true;
    call(url, body).then(function (j) {
      toast(j.message || 'done', false);
      setTimeout(function () { location.reload(); }, 600);
    }, function (e) {
      toast(e.message, true);
      b.disabled = false;
    });
  });
})();
`;
