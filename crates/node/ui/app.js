// The poex node explorer: a single-page app over the node's public JSON API.
//
// Plain JavaScript, no build step, nothing fetched from anywhere but this node (the page is
// served with a Content-Security-Policy that allows only 'self'). Every string that comes from
// the API or from a file is put on the page as text (textContent, setAttribute on a fixed set
// of attributes): never as HTML. Routes are hashes: #/datasets, #/algorithms, #/jobs,
// #/jobs/<id>, #/audit?<filters>, #/log, #/verify[?job=<id>]. docs/web-ui.md describes each page.

'use strict';

(() => {
  // ---------------------------------------------------------------------------------------
  // DOM helpers: the only way this file creates elements.

  const SAFE_HREF = /^(#\/|\/(?!\/))/;

  /** Creates `tag` with `attrs` and `children` (strings become text nodes, null is skipped). */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') {
        el.className = v;
      } else if (k === 'data') {
        for (const [dk, dv] of Object.entries(v)) el.dataset[dk] = String(dv);
      } else if (k.startsWith('on') && typeof v === 'function') {
        el.addEventListener(k.slice(2), v);
      } else if (k === 'href' || k === 'src' || k === 'action') {
        // Links are built from fixed prefixes and encoded ids only; refuse anything else so
        // no API string can become a javascript: or off-site URL.
        if (!SAFE_HREF.test(String(v))) throw new Error(`refusing link ${v}`);
        el.setAttribute(k, String(v));
      } else if (k === 'value') {
        el.value = String(v);
      } else {
        el.setAttribute(k, v === true ? '' : String(v));
      }
    }
    add(el, children);
    return el;
  }

  function add(el, children) {
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  function clear(el) {
    while (el.firstChild) el.firstChild.remove();
    return el;
  }

  const main = () => document.getElementById('main');

  // ---------------------------------------------------------------------------------------
  // The API.

  class ApiError extends Error {
    constructor(message, status, code) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function api(path, options) {
    let res;
    try {
      res = await fetch(path, {
        headers: { Accept: 'application/json' },
        cache: 'no-store',
        ...options,
      });
    } catch (e) {
      throw new ApiError(`the node did not answer (${e.message}); is it still running?`, 0, 'network');
    }
    const text = await res.text();
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = null;
    }
    if (!res.ok) {
      const message = body && typeof body.message === 'string'
        ? body.message
        : `${res.status} ${res.statusText}`;
      throw new ApiError(message, res.status, body && body.error);
    }
    if (body === null) throw new ApiError(`${path}: the answer is not JSON`, res.status, 'not_json');
    return body;
  }

  const enc = encodeURIComponent;

  // ---------------------------------------------------------------------------------------
  // Formatting.

  function bytes(n) {
    if (typeof n !== 'number' || !Number.isFinite(n)) return '—';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let v = n;
    let u = 0;
    while (v >= 1024 && u < units.length - 1) {
      v /= 1024;
      u += 1;
    }
    return u === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
  }

  /** An RFC 3339 time as a <time> element: "2026-11-21 20:12:26 UTC", full value on hover. */
  function when(iso) {
    if (!iso) return '—';
    const s = String(iso);
    const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(\.\d+)?Z$/.exec(s);
    return h('time', { datetime: s, title: s }, m ? `${m[1]} ${m[2]} UTC` : s);
  }

  function seconds(a, b) {
    const t0 = Date.parse(a);
    const t1 = Date.parse(b);
    if (!Number.isFinite(t0) || !Number.isFinite(t1)) return null;
    return (t1 - t0) / 1000;
  }

  function duration(s) {
    if (s === null || s === undefined || !Number.isFinite(s)) return '—';
    if (s < 1) return `${Math.round(s * 1000)} ms`;
    if (s < 120) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
    return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  }

  /** A long hex id shortened for tables, the whole value in the title and for copying. */
  function shortId(id, n = 12) {
    if (!id) return '—';
    const s = String(id);
    return h('code', { class: 'id', title: s }, s.length > n + 1 ? `${s.slice(0, n)}…` : s);
  }

  /** A digest, `alg:hex` or an object {sha256: hex, …}, shortened. */
  function digest(d, n = 16) {
    if (!d) return '—';
    const s = typeof d === 'string' ? d : d.sha256 ? `sha256:${d.sha256}` : JSON.stringify(d);
    const [alg, hex] = s.includes(':') ? s.split(/:(.*)/s) : ['', s];
    const shown = hex.length > n + 1 ? `${hex.slice(0, n)}…` : hex;
    return h('code', { class: 'digest', title: s }, alg ? `${alg}:${shown}` : shown);
  }

  /** The full digest, wrapped: for detail views. */
  function fullDigest(s) {
    return s ? h('code', { class: 'digest full' }, String(s)) : '—';
  }

  function sha256Of(record) {
    const d = record && record.digests;
    if (!d) return null;
    if (Array.isArray(d)) return d.find((x) => String(x).startsWith('sha256:')) || null;
    return d.sha256 ? `sha256:${d.sha256}` : null;
  }

  function badge(state) {
    const s = String(state || 'unknown');
    return h('span', { class: `state state-${s.replace(/[^a-z-]/g, '')}` }, s);
  }

  function errorBox(message, prefix) {
    return h('div', { class: 'error', role: 'alert' }, prefix ? h('strong', {}, `${prefix}: `) : null, message);
  }

  function table(caption, headers, rows, attrs) {
    return h('div', { class: 'table-wrap' },
      h('table', attrs || {},
        caption ? h('caption', {}, caption) : null,
        h('thead', {}, h('tr', {}, headers.map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, rows)));
  }

  function dl(pairs, cls) {
    return h('dl', { class: cls || 'facts' },
      pairs.filter((p) => p).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
  }

  /** Decodes standard base64 (a DSSE payload) to text. */
  function b64text(b64) {
    const bin = atob(String(b64));
    const buf = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) buf[i] = bin.charCodeAt(i);
    return new TextDecoder('utf-8', { fatal: false }).decode(buf);
  }

  function decodeEnvelope(env) {
    if (!env || typeof env.payload !== 'string') return null;
    try {
      return JSON.parse(b64text(env.payload));
    } catch {
      return null;
    }
  }

  // ---------------------------------------------------------------------------------------
  // SHA-256 of files, in the browser. crypto.subtle.digest where the browser offers it (a
  // secure context: https, or http on localhost) and the file fits in memory; otherwise this
  // streaming implementation (FIPS 180-4), e.g. for a node reached over plain http by name.

  const K = new Uint32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
  ]);

  class Sha256 {
    constructor() {
      this.s = new Uint32Array([
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
      ]);
      this.buf = new Uint8Array(64);
      this.fill = 0;
      this.length = 0;
      this.w = new Uint32Array(64);
    }

    update(data) {
      let i = 0;
      this.length += data.length;
      if (this.fill > 0) {
        const n = Math.min(64 - this.fill, data.length);
        this.buf.set(data.subarray(0, n), this.fill);
        this.fill += n;
        i = n;
        if (this.fill < 64) return this;
        this.block(this.buf, 0);
        this.fill = 0;
      }
      for (; i + 64 <= data.length; i += 64) this.block(data, i);
      if (i < data.length) {
        this.buf.set(data.subarray(i), 0);
        this.fill = data.length - i;
      }
      return this;
    }

    block(d, o) {
      const w = this.w;
      for (let t = 0; t < 16; t++) {
        const j = o + 4 * t;
        w[t] = (d[j] << 24) | (d[j + 1] << 16) | (d[j + 2] << 8) | d[j + 3];
      }
      for (let t = 16; t < 64; t++) {
        const a = w[t - 15];
        const b = w[t - 2];
        const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
        const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
        w[t] = (w[t - 16] + s0 + w[t - 7] + s1) | 0;
      }
      let [a, b, c, dd, e, f, g, hh] = this.s;
      for (let t = 0; t < 64; t++) {
        const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
        const ch = (e & f) ^ (~e & g);
        const t1 = (hh + S1 + ch + K[t] + w[t]) | 0;
        const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
        const maj = (a & b) ^ (a & c) ^ (b & c);
        const t2 = (S0 + maj) | 0;
        hh = g;
        g = f;
        f = e;
        e = (dd + t1) | 0;
        dd = c;
        c = b;
        b = a;
        a = (t1 + t2) | 0;
      }
      const s = this.s;
      s[0] += a; s[1] += b; s[2] += c; s[3] += dd; s[4] += e; s[5] += f; s[6] += g; s[7] += hh;
    }

    hex() {
      const bits = this.length * 8;
      const pad = new Uint8Array((this.fill < 56 ? 56 : 120) - this.fill + 8);
      pad[0] = 0x80;
      const view = new DataView(pad.buffer);
      view.setUint32(pad.length - 8, Math.floor(bits / 0x100000000));
      view.setUint32(pad.length - 4, bits >>> 0);
      this.update(pad);
      return Array.from(this.s, (x) => x.toString(16).padStart(8, '0')).join('');
    }
  }

  function hexOf(buf) {
    return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
  }

  const SUBTLE_MAX = 256 * 1024 * 1024;
  const CHUNK = 4 * 1024 * 1024;

  /** `sha256:<hex>` of a File or Blob, read in this browser only. */
  async function sha256File(file, onProgress) {
    if (globalThis.crypto && crypto.subtle && file.size <= SUBTLE_MAX) {
      return `sha256:${hexOf(await crypto.subtle.digest('SHA-256', await file.arrayBuffer()))}`;
    }
    const hash = new Sha256();
    for (let off = 0; off < file.size; off += CHUNK) {
      hash.update(new Uint8Array(await file.slice(off, off + CHUNK).arrayBuffer()));
      if (onProgress) onProgress(Math.min(off + CHUNK, file.size), file.size);
    }
    return `sha256:${hash.hex()}`;
  }

  // For the end-to-end test: the fallback must agree with crypto.subtle.
  globalThis.poexExplorer = Object.freeze({
    sha256Hex: (bytesIn) => new Sha256().update(bytesIn).hex(),
  });

  // ---------------------------------------------------------------------------------------
  // Routing. A route renders into <main>; `ctx.alive()` turns false when the hash changes, so
  // pages that refresh themselves stop.

  let generation = 0;

  function parseHash() {
    const raw = location.hash.startsWith('#') ? location.hash.slice(1) : '';
    const q = raw.indexOf('?');
    const path = q < 0 ? raw : raw.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
    return { path, query };
  }

  function hashWith(path, params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== '') q.set(k, v);
    const s = q.toString();
    return `#${path}${s ? `?${s}` : ''}`;
  }

  const routes = [
    [/^\/datasets$/, 'datasets', 'Datasets', () => assetsPage('dataset')],
    [/^\/algorithms$/, 'algorithms', 'Algorithms', () => assetsPage('algorithm')],
    [/^\/jobs$/, 'jobs', 'Jobs', (ctx) => jobsPage(ctx)],
    [/^\/jobs\/([A-Za-z0-9-]{1,64})$/, 'jobs', 'Job', (ctx, m) => jobPage(ctx, m[1])],
    [/^\/audit$/, 'audit', 'Audit trail', (ctx) => auditPage(ctx)],
    [/^\/log$/, 'log', 'Log', () => logPage()],
    [/^\/verify$/, 'verify', 'Verify a proof', (ctx) => verifyPage(ctx)],
  ];

  async function route(focus) {
    const { path, query } = parseHash();
    if (path === '' || path === '/') {
      location.replace('#/jobs');
      return;
    }
    if (!path.startsWith('/')) return; // an in-page anchor such as #main
    generation += 1;
    const mine = generation;
    const ctx = { query, alive: () => mine === generation };
    const found = routes.map(([re, nav, title, render]) => [re.exec(path), nav, title, render])
      .find(([m]) => m);
    for (const a of document.querySelectorAll('[data-nav]')) {
      if (found && a.dataset.nav === found[1]) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    const el = clear(main());
    el.setAttribute('aria-busy', 'true');
    let page;
    if (!found) {
      document.title = 'Not found · poex node';
      page = [h('h1', {}, 'Not found'), h('p', {}, 'This explorer has no page ', h('code', {}, path), '. Choose one above.')];
    } else {
      document.title = `${found[2]} · poex node`;
      try {
        page = await found[3](ctx, found[0]);
      } catch (e) {
        page = [h('h1', {}, found[2]), errorBox(e.message, 'Could not load this page')];
      }
    }
    if (!ctx.alive()) return;
    add(el, [page]);
    el.removeAttribute('aria-busy');
    if (focus) {
      const h1 = el.querySelector('h1');
      if (h1) {
        h1.setAttribute('tabindex', '-1');
        h1.focus({ preventScroll: true });
      }
    }
  }

  // ---------------------------------------------------------------------------------------
  // Datasets and algorithms.

  async function assetsPage(kind) {
    const all = (await api('/api/assets')).assets || [];
    const datasets = all.filter((a) => a.kind === 'dataset');
    const algorithms = all.filter((a) => a.kind === 'algorithm');
    const algBySha = new Map(algorithms.map((a) => [sha256Of(a), a.name]));
    const mine = kind === 'dataset' ? datasets : algorithms;
    mine.sort((a, b) => String(a.name).localeCompare(String(b.name)));
    const plural = kind === 'dataset' ? 'Datasets' : 'Algorithms';
    const intro = kind === 'dataset'
      ? 'Data published on this node by its owners. Jobs run where the data lives; each dataset\'s policy names the algorithms (by SHA-256) and requesters (by key id) that may use it. The publisher may always use it.'
      : 'Code published on this node by its users. A job names an algorithm and the datasets it reads, pinned by SHA-256; the node runs it in a sandbox only if every dataset\'s policy allows it.';
    const out = [h('h1', {}, plural), h('p', { class: 'lead' }, intro)];
    if (mine.length === 0) {
      out.push(h('p', { class: 'empty' }, `No ${plural.toLowerCase()} published yet.`));
      return out;
    }
    const common = (r) => [
      h('td', {}, digest(sha256Of(r))),
      h('td', { class: 'num' }, bytes(r.size)),
      h('td', { class: 'num' }, String(r.file_count ?? r.fileCount ?? '—')),
      h('td', {}, shortId(r.publisher)),
      h('td', {}, when(r.published_at ?? r.publishedAt)),
    ];
    if (kind === 'dataset') {
      const rows = mine.map((r) => {
        const p = r.policy || {};
        const algs = p.allowed_algorithms ?? p.allowedAlgorithms ?? [];
        const who = p.allowed_requesters ?? p.allowedRequesters ?? [];
        return h('tr', { data: { name: r.name } },
          h('th', { scope: 'row' }, r.name),
          common(r),
          h('td', {}, algs.length === 0 ? h('span', { class: 'muted' }, 'none')
            : h('ul', { class: 'plain' }, algs.map((d) => h('li', {},
              algBySha.has(d) ? [algBySha.get(d), ' '] : null, digest(d, 8))))),
          h('td', {}, h('ul', { class: 'plain' },
            h('li', { class: 'muted' }, 'the publisher'),
            who.map((k) => h('li', {}, shortId(k))))));
      });
      out.push(table(`${mine.length} dataset${mine.length === 1 ? '' : 's'}`,
        ['Name', 'SHA-256', 'Size', 'Files', 'Publisher', 'Published', 'Allowed algorithms', 'Allowed requesters'],
        rows, { class: 'assets', id: 'datasets' }));
    } else {
      const usedBy = (r) => datasets.filter((d) => {
        const p = d.policy || {};
        return (p.allowed_algorithms ?? p.allowedAlgorithms ?? []).includes(sha256Of(r));
      }).map((d) => d.name);
      const rows = mine.map((r) => {
        const users = usedBy(r);
        return h('tr', { data: { name: r.name } },
          h('th', { scope: 'row' }, r.name),
          h('td', {}, r.entrypoint ? h('code', {}, r.entrypoint.join(' ')) : '—'),
          common(r),
          h('td', {}, users.length ? users.join(', ') : h('span', { class: 'muted' }, 'none yet')));
      });
      out.push(table(`${mine.length} algorithm${mine.length === 1 ? '' : 's'}`,
        ['Name', 'Entrypoint', 'SHA-256', 'Size', 'Files', 'Publisher', 'Published', 'Allowed on datasets'],
        rows, { class: 'assets', id: 'algorithms' }));
    }
    return out;
  }

  // ---------------------------------------------------------------------------------------
  // Jobs.

  const STATES = ['queued', 'running', 'succeeded', 'failed', 'refused', 'cancelled', 'expired', 'interrupted'];
  const active = (j) => j.state === 'queued' || j.state === 'running';

  function progressCell(j) {
    const p = j.progress;
    if (j.state === 'queued') return h('span', { class: 'muted' }, 'waiting in the queue');
    if (j.state === 'running') {
      const stage = p && p.stage ? p.stage : 'starting';
      const total = p ? Number(p.bytesTotal) : 0;
      const done = p ? Number(p.bytesDone) : 0;
      const label = total > 0 ? `${stage}: ${bytes(done)} of ${bytes(total)}` : stage;
      const bar = h('progress', { max: total > 0 ? String(total) : null, 'aria-label': label });
      if (total > 0) bar.value = Math.min(done, total);
      return h('div', { class: 'progress' }, h('span', { class: 'stage' }, stage), bar,
        total > 0 ? h('span', { class: 'bytes' }, `${bytes(done)} of ${bytes(total)} (${Math.floor((100 * done) / total)}%)`) : null);
    }
    const note = j.reason || (j.status && j.status !== j.state ? j.status : null);
    return note ? h('span', { class: 'reason', title: note }, note) : h('span', { class: 'muted' }, 'ended');
  }

  function jobRow(j) {
    return h('tr', { data: { job: j.id, state: j.state } },
      h('th', { scope: 'row' }, h('a', { href: `#/jobs/${enc(j.id)}` }, h('code', {}, j.id))),
      h('td', { class: 'state-cell' }, badge(j.state)),
      h('td', { class: 'progress-cell' }, progressCell(j)),
      h('td', {}, j.algorithm || '—'),
      h('td', {}, (j.datasets || []).join(', ') || '—'),
      h('td', {}, shortId(j.requester)),
      h('td', {}, when(j.submittedAt)),
      h('td', { class: 'num' }, j.finishedAt ? duration(seconds(j.startedAt || j.submittedAt, j.finishedAt)) : '—'));
  }

  async function jobsPage(ctx) {
    const q = ctx.query;
    const filters = { state: q.get('state') || '', requester: q.get('requester') || '', before: q.get('before') || '' };
    const url = () => `/api/jobs?${new URLSearchParams(Object.entries(filters).filter(([, v]) => v)).toString()}`;
    const first = await api(url());

    const live = h('p', { class: 'live', id: 'live', 'aria-live': 'polite' });
    const tbody = h('tbody');
    const more = h('p', { class: 'pager' });
    const body = h('div', { class: 'table-wrap' },
      h('table', { class: 'jobs', id: 'jobs' },
        h('caption', {}, 'Jobs, newest first'),
        h('thead', {}, h('tr', {}, ['Job', 'State', 'Progress', 'Algorithm', 'Datasets', 'Requester', 'Submitted', 'Run time']
          .map((t) => h('th', { scope: 'col' }, t)))),
        tbody));
    const empty = h('p', { class: 'empty' }, 'No jobs match. Jobs are submitted with ', h('code', {}, 'poex --node URL run --algorithm A --dataset D'), ' and appear here as they are queued.');

    const fill = (page) => {
      const jobs = page.jobs || [];
      clear(tbody);
      add(tbody, [jobs.map(jobRow)]);
      body.hidden = jobs.length === 0;
      empty.hidden = jobs.length !== 0;
      const n = jobs.filter(active).length;
      live.textContent = n > 0
        ? `Live: ${n} job${n === 1 ? '' : 's'} queued or running; this list refreshes every second.`
        : 'No job in this list is queued or running.';
      live.classList.toggle('on', n > 0);
      clear(more);
      if (filters.before) add(more, [h('a', { href: hashWith('/jobs', { ...filters, before: null }) }, '← Newest jobs'), ' ']);
      if (page.nextBefore !== null && page.nextBefore !== undefined) {
        add(more, [h('a', { href: hashWith('/jobs', { ...filters, before: page.nextBefore }), rel: 'next' }, 'Older jobs →')]);
      }
      return n > 0;
    };

    let timer = null;
    const schedule = (ms) => {
      clearTimeout(timer);
      if (ctx.alive()) timer = setTimeout(poll, ms);
    };
    const poll = async () => {
      if (!ctx.alive()) return;
      try {
        const again = fill(await api(url()));
        if (again) schedule(1000);
      } catch (e) {
        live.textContent = `Refreshing failed: ${e.message}; retrying in 5 s.`;
        schedule(5000);
      }
    };
    if (fill(first)) schedule(1000);

    const stateSelect = h('select', { id: 'f-state', name: 'state' },
      h('option', { value: '' }, 'any state'),
      STATES.map((s) => h('option', { value: s, selected: s === filters.state }, s)));
    const requester = h('input', { id: 'f-requester', name: 'requester', value: filters.requester, placeholder: 'key id (64 hex digits)', size: 40, spellcheck: 'false', autocomplete: 'off' });
    const form = h('form', {
      class: 'filters',
      onsubmit: (ev) => {
        ev.preventDefault();
        location.hash = hashWith('/jobs', { state: stateSelect.value, requester: requester.value.trim() });
      },
    },
    h('div', { class: 'field' }, h('label', { for: 'f-state' }, 'State'), stateSelect),
    h('div', { class: 'field' }, h('label', { for: 'f-requester' }, 'Requester'), requester),
    h('div', { class: 'buttons' },
      h('button', { type: 'submit' }, 'Show'),
      h('button', { type: 'button', class: 'secondary', onclick: () => { if (ctx.alive()) poll(); } }, 'Refresh')));

    return [h('h1', {}, 'Jobs'),
      h('p', { class: 'lead' }, 'Every job this node accepted: queued, running, and how each ended. Each end state has a signed receipt in the log.'),
      form, live, body, empty, more];
  }

  // ---------------------------------------------------------------------------------------
  // One job and its receipt.

  function annotation(rd, key) {
    return rd && rd.annotations ? rd.annotations[key] : undefined;
  }

  function digestRows(d) {
    if (!d || typeof d !== 'object') return '—';
    return h('ul', { class: 'plain' }, Object.entries(d).map(([alg, hex]) => h('li', {}, fullDigest(`${alg}:${hex}`))));
  }

  function receiptSection(id, envelope) {
    const st = decodeEnvelope(envelope);
    const out = [h('h2', { id: 'receipt' }, 'Receipt')];
    if (!st) {
      out.push(errorBox('The receipt\'s payload could not be decoded as JSON.'));
      return out;
    }
    const pred = st.predicate || {};
    const bd = pred.buildDefinition || {};
    const rd = pred.runDetails || {};
    const meta = rd.metadata || {};
    const byproducts = rd.byproducts || [];
    const outcome = byproducts.find((b) => b.name === 'outcome');
    // The outcome's fields are those of poex_core::outcome::Outcome, serialized in its
    // annotations (the explorer test in tests/ui checks the page shows them).
    const oa = (outcome && outcome.annotations) || {};
    const log = byproducts.find((b) => b.name === 'execution.log');
    const usage = oa.resourceUsage || {};
    const sigs = (envelope.signatures || []).map((s) => s.keyid).filter(Boolean);

    out.push(h('p', { class: 'note' },
      'Decoded in your browser from the signed receipt (a DSSE envelope around an in-toto Statement with an SLSA Provenance predicate). Decoding is not verifying: ',
      h('a', { href: hashWith('/verify', { job: id }) }, 'check this proof'),
      ' to verify its signature and its inclusion in the log.'));
    out.push(dl([
      ['Status', h('span', {}, badge(oa.status || 'unknown'), oa.exitCode !== undefined ? ` exit code ${oa.exitCode}` : '')],
      oa.reason ? ['Reason', oa.reason] : null,
      ['Builder', h('code', { class: 'wrap', id: 'builder-id' }, rd.builder && rd.builder.id ? rd.builder.id : '—')],
      ['Signed by (DSSE key id)', sigs.length ? h('ul', { class: 'plain' }, sigs.map((k) => h('li', {}, h('code', { class: 'wrap' }, k)))) : '—'],
      ['Build type', h('code', {}, bd.buildType || '—')],
      ['Invocation', h('code', {}, meta.invocationId || '—')],
      ['Started', when(meta.startedOn)],
      ['Finished', when(meta.finishedOn)],
      ['Wall time', duration(usage.wallSeconds)],
      ['CPU time', usage.userCpuSeconds !== undefined ? `${duration(usage.userCpuSeconds)} user, ${duration(usage.systemCpuSeconds)} system` : '—'],
      ['Peak memory', usage.maxRssBytes !== undefined ? bytes(usage.maxRssBytes) : '—'],
      ['Output', usage.outputBytes !== undefined ? `${bytes(usage.outputBytes)} in ${usage.outputFiles} file(s)` : '—'],
    ]));

    const subjects = st.subject || [];
    out.push(h('h3', {}, 'Results (subjects)'));
    out.push(table(`${subjects.length} subject${subjects.length === 1 ? '' : 's'}: each file the job left in /out, by digest`,
      ['Name', 'Digests'],
      subjects.map((s) => h('tr', { data: { subject: s.name || '' } },
        h('th', { scope: 'row' }, h('code', { class: 'wrap' }, s.name || '—')),
        h('td', {}, digestRows(s.digest)))),
      { class: 'subjects', id: 'subjects' }));

    const deps = bd.resolvedDependencies || [];
    out.push(h('h3', {}, 'Materials (inputs)'));
    out.push(table('The algorithm and datasets the processor resolved and ran',
      ['Role', 'Name', 'URI', 'Digests', 'Size', 'Files'],
      deps.map((d) => h('tr', { data: { material: d.name || '' } },
        h('td', {}, annotation(d, 'role') || '—'),
        h('th', { scope: 'row' }, d.name || '—'),
        h('td', {}, h('code', {}, d.uri || '—')),
        h('td', {}, digestRows(d.digest)),
        h('td', { class: 'num' }, bytes(annotation(d, 'bytes'))),
        h('td', { class: 'num' }, String(annotation(d, 'files') ?? '—')))),
      { class: 'materials', id: 'materials' }));

    if (log) {
      out.push(h('h3', {}, 'Execution log'));
      out.push(dl([
        ['Digests', digestRows(log.digest)],
        ['Size', bytes(annotation(log, 'bytes'))],
        ['Truncated', annotation(log, 'truncated') ? 'yes, at the log limit' : 'no'],
        ['Download', 'the requester only (a signed request; each download is an audit event)'],
      ]));
    }

    const jr = bd.externalParameters && bd.externalParameters.jobRequest;
    const req = decodeEnvelope(jr);
    if (req) {
      out.push(h('h3', {}, 'Job request (signed by the requester)'));
      out.push(dl([
        ['Requester', h('code', { class: 'wrap' }, req.requester && req.requester.keyId ? req.requester.keyId : '—')],
        ['Requested', when(req.requestedAt)],
        ['Algorithm pinned', req.algorithm ? [req.algorithm.name, ' ', digest(req.algorithm.digest)] : '—'],
        ['Datasets pinned', h('ul', { class: 'plain' }, (req.datasets || []).map((d) => h('li', {}, d.name, ' ', digest(d.digest))))],
        ['Arguments', (req.arguments || []).length ? h('code', {}, req.arguments.join(' ')) : 'none'],
        ['Limits asked', Object.keys(req.limits || {}).length ? Object.entries(req.limits).map(([k, v]) => `${k}=${v}`).join(', ') : 'the node\'s defaults'],
      ]));
    }
    return out;
  }

  function jobFacts(j) {
    return dl([
      ['State', h('span', { id: 'job-state' }, badge(j.state))],
      j.status && j.status !== j.state ? ['Status', j.status] : null,
      j.reason ? ['Reason', j.reason] : null,
      j.state === 'running' || j.state === 'queued' ? ['Progress', progressCell(j)] : null,
      ['Algorithm', j.algorithm || '—'],
      ['Datasets', (j.datasets || []).join(', ') || '—'],
      ['Requester', h('code', { class: 'wrap' }, j.requester || '—')],
      ['Submitted', when(j.submittedAt)],
      ['Started', when(j.startedAt)],
      ['Finished', when(j.finishedAt)],
      ['Run time', j.finishedAt && j.startedAt ? duration(seconds(j.startedAt, j.finishedAt)) : '—'],
      ['Log index', j.logIndex !== undefined ? String(j.logIndex) : '—'],
    ]);
  }

  async function jobPage(ctx, id) {
    const j = await api(`/api/jobs/${enc(id)}`);
    const facts = h('div', { id: 'job-facts' }, jobFacts(j));
    const receipt = h('section', { 'aria-labelledby': 'receipt' });
    const live = h('p', { class: 'live', id: 'job-live', 'aria-live': 'polite' });
    const links = h('ul', { class: 'links' },
      h('li', {}, h('a', { href: `/api/jobs/${enc(id)}/receipt`, id: 'receipt-link', type: 'application/json' }, 'Receipt (JSON)')),
      h('li', {}, h('a', { href: `/api/jobs/${enc(id)}/bundle`, id: 'bundle-link', type: 'application/json', download: `bundle-${id}.json` }, 'Proof bundle (JSON)')),
      h('li', {}, h('a', { href: hashWith('/verify', { job: id }), id: 'check-link' }, 'Check this proof')),
      h('li', {}, h('a', { href: hashWith('/audit', { job: id }) }, 'Audit events of this job')));

    const showReceipt = async () => {
      try {
        const env = await api(`/api/jobs/${enc(id)}/receipt`);
        if (ctx.alive()) add(clear(receipt), [receiptSection(id, env)]);
      } catch (e) {
        if (ctx.alive()) add(clear(receipt), [h('h2', { id: 'receipt' }, 'Receipt'), errorBox(e.message)]);
      }
    };
    const update = (job) => {
      add(clear(facts), [jobFacts(job)]);
      live.textContent = active(job) ? `This job is ${job.state}; the page refreshes every second.` : '';
      live.classList.toggle('on', active(job));
      links.hidden = active(job);
    };
    update(j);
    const poll = async () => {
      if (!ctx.alive()) return;
      try {
        const now = await api(`/api/jobs/${enc(id)}`);
        if (!ctx.alive()) return;
        update(now);
        if (active(now)) setTimeout(poll, 1000);
        else showReceipt();
      } catch (e) {
        live.textContent = `Refreshing failed: ${e.message}; retrying in 5 s.`;
        if (ctx.alive()) setTimeout(poll, 5000);
      }
    };
    if (active(j)) setTimeout(poll, 1000);
    else await showReceipt();
    return [h('p', { class: 'crumbs' }, h('a', { href: '#/jobs' }, '← All jobs')),
      h('h1', {}, 'Job ', h('code', {}, id)), live, facts, links, receipt];
  }

  // ---------------------------------------------------------------------------------------
  // The audit trail.

  const OPERATIONS = ['publish', 'read-dataset', 'read-algorithm', 'write-result', 'refuse', 'run-started',
    'run-finished', 'upload', 'submit', 'cancel', 'download-result', 'download-log', 'deny'];
  const AUDIT_FIELDS = ['actor', 'operation', 'object', 'job', 'since', 'until'];

  async function auditPage(ctx) {
    const q = ctx.query;
    const params = {};
    for (const k of [...AUDIT_FIELDS, 'limit', 'after']) if (q.get(k)) params[k] = q.get(k);
    const inputs = {};
    const field = (name, label, el) => {
      inputs[name] = el;
      return h('div', { class: 'field' }, h('label', { for: `a-${name}` }, label), el);
    };
    const text = (name, placeholder) => h('input', {
      id: `a-${name}`, name, value: params[name] || '', placeholder, spellcheck: 'false', autocomplete: 'off',
    });
    const form = h('form', {
      class: 'filters audit-filters',
      onsubmit: (ev) => {
        ev.preventDefault();
        const next = {};
        for (const k of AUDIT_FIELDS) next[k] = inputs[k].value.trim();
        next.limit = inputs.limit.value === '100' ? '' : inputs.limit.value;
        location.hash = hashWith('/audit', next);
      },
    },
    field('actor', 'Actor', text('actor', 'key id')),
    field('operation', 'Operation', h('select', { id: 'a-operation', name: 'operation' },
      h('option', { value: '' }, 'any'),
      OPERATIONS.map((o) => h('option', { value: o, selected: o === params.operation }, o)))),
    field('object', 'Object', text('object', 'a name or path')),
    field('job', 'Job', text('job', 'job id')),
    field('since', 'Since (RFC 3339, inclusive)', text('since', '2026-11-21T10:00:00Z')),
    field('until', 'Until (exclusive)', text('until', '2026-11-22T00:00:00Z')),
    field('limit', 'Per page', h('select', { id: 'a-limit', name: 'limit' },
      ['25', '50', '100', '500'].map((n) => h('option', { value: n, selected: n === (params.limit || '100') }, n)))),
    h('div', { class: 'buttons' },
      h('button', { type: 'submit' }, 'Apply filters'),
      h('a', { class: 'button secondary', href: '#/audit' }, 'Clear')));

    const out = [h('h1', {}, 'Audit trail'),
      h('p', { class: 'lead' }, 'What happened on this node, by whom, on what and when: publishes, uploads, submissions, runs, results written, downloads and denied requests. Each event is an entry of the transparency log, oldest first.'),
      form];
    let page;
    try {
      page = await api(`/api/audit?${new URLSearchParams(params).toString()}`);
    } catch (e) {
      out.push(errorBox(e.message, 'The node refused this query'));
      return out;
    }
    const events = page.events || [];
    if (events.length === 0) {
      out.push(h('p', { class: 'empty', id: 'audit-empty' }, params.after ? 'No more events.' : 'No event matches these filters.'));
    } else {
      const first = events[0].index;
      const last = events[events.length - 1].index;
      const rows = events.map(({ index, event: e }) => h('tr', { data: { index, operation: e.operation, job: e.job || '' } },
        h('th', { scope: 'row', class: 'num' }, String(index)),
        h('td', {}, when(e.time)),
        h('td', {}, h('a', { href: hashWith('/audit', { operation: e.operation }), class: `op op-${String(e.operation).replace(/[^a-z-]/g, '')}` }, e.operation)),
        h('td', {}, h('a', { href: hashWith('/audit', { actor: e.actor }), title: `events by ${e.actor}` }, shortId(e.actor))),
        h('td', { class: 'object' }, e.object),
        h('td', {}, e.job ? h('a', { href: `#/jobs/${enc(e.job)}` }, shortId(e.job, 8)) : '—'),
        h('td', {}, digest(e.digest, 10)),
        h('td', { class: 'detail' }, e.detail || '')));
      out.push(table(`Log entries ${first} to ${last} (${events.length} event${events.length === 1 ? '' : 's'})`,
        ['Log index', 'Time', 'Operation', 'Actor', 'Object', 'Job', 'Digest', 'Detail'], rows, { class: 'audit', id: 'audit' }));
    }
    const pager = h('p', { class: 'pager' });
    if (params.after) add(pager, [h('a', { href: hashWith('/audit', { ...params, after: null }), id: 'audit-first' }, '← First page'), ' ']);
    if (page.next !== null && page.next !== undefined) {
      add(pager, [h('a', { href: hashWith('/audit', { ...params, after: page.next }), id: 'audit-next', rel: 'next' }, 'Next page →')]);
    }
    out.push(pager);
    return out;
  }

  // ---------------------------------------------------------------------------------------
  // The log.

  async function logPage() {
    const [cp, info] = await Promise.all([api('/api/checkpoints'), api('/api/info').catch(() => null)]);
    const latest = cp.latest || {};
    const vkey = cp.verifierKey || (info && info.log && info.log.verifierKey);
    const base = `${location.protocol}//${location.host}`;
    const out = [h('h1', {}, 'Transparency log'),
      h('p', { class: 'lead' }, 'Every receipt, publish and audit event is an entry of this append-only Merkle tree log (C2SP tlog-tiles). The node signs a checkpoint (origin, size, root hash) with its log key; a proof bundle\'s inclusion proof leads to such a checkpoint, and a later checkpoint must extend it.'),
      h('h2', {}, 'Latest checkpoint'),
      dl([
        ['Origin', h('code', { id: 'cp-origin' }, latest.origin || '—')],
        ['Size', h('span', { id: 'cp-size' }, latest.size !== undefined ? `${latest.size} entries` : '—')],
        ['Root hash', h('code', { class: 'wrap', id: 'cp-root' }, latest.rootHash || '—')],
        ['Verifier key', h('code', { class: 'wrap', id: 'cp-vkey' }, vkey || '—')],
      ]),
      h('h3', {}, 'The signed note'),
      h('pre', { class: 'note-text', id: 'cp-note', tabindex: '0', 'aria-label': 'The signed checkpoint note' }, latest.note || ''),
      h('ul', { class: 'links' },
        h('li', {}, h('a', { href: '/log/checkpoint', id: 'checkpoint-link' }, '/log/checkpoint'), ' (the same note, as served to tlog clients)'),
        h('li', {}, 'tiles under ', h('code', {}, '/log/tile/'), ' (c2sp.org/tlog-tiles)'))];
    const history = cp.history || [];
    if (history.length) {
      out.push(h('h2', {}, 'Earlier checkpoints'));
      out.push(table(null, ['Size', 'Root hash', 'Signed'], history.map((c) => h('tr', {},
        h('td', { class: 'num' }, String(c.size)),
        h('td', {}, h('code', { class: 'wrap' }, c.rootHash || c.root || '—')),
        h('td', {}, when(c.time || c.signedAt))))));
    }
    out.push(h('h2', {}, 'Check it yourself'));
    out.push(h('p', {}, 'With the keys this node publishes, checked on your machine, including that this log still holds the bundle\'s entry:'));
    out.push(h('pre', { class: 'cmd' }, `poex --node ${base} verify bundle.json`));
    out.push(h('p', {}, 'Independently of this node\'s word for its keys: get the processor key and the verifier key from the node\'s operator, then'));
    out.push(h('pre', { class: 'cmd' }, `poex verify bundle.json --key PROCESSOR.pem --log-key '${vkey || 'VKEY'}' --log ${base}/log`));
    if (info && info.processor) {
      out.push(h('p', {}, 'Receipts are signed by the processor key ', h('code', { class: 'wrap', id: 'processor-key' }, info.processor.keyId),
        ' (Ed25519, public key ', h('code', { class: 'wrap' }, info.processor.publicKey), ').'));
    }
    return out;
  }

  // ---------------------------------------------------------------------------------------
  // Verify a proof.

  const verifyState = { bundle: null, results: [] };

  function looksLikeBundle(value) {
    return value && typeof value === 'object' && !Array.isArray(value) &&
      ('mediaType' in value || 'receipt' in value || 'payloadType' in value);
  }

  async function verifyPage(ctx) {
    const st = verifyState;
    st.bundle = null;
    st.results = [];
    const status = h('div', { id: 'verify-status', 'aria-live': 'polite' });
    const outcome = h('section', { id: 'verify-result', 'aria-label': 'Verification result' });
    const chosen = h('div', { class: 'chosen', id: 'chosen' });
    const bundleInput = h('input', { type: 'file', id: 'bundle-file', name: 'bundle', accept: '.json,application/json', 'aria-describedby': 'bundle-hint' });
    const resultsInput = h('input', { type: 'file', id: 'result-files', name: 'results', multiple: true, 'aria-describedby': 'results-hint' });
    const verifyButton = h('button', { type: 'submit', id: 'verify-button' }, 'Verify');
    const clearButton = h('button', {
      type: 'button', class: 'secondary', id: 'verify-clear',
      onclick: () => {
        st.bundle = null;
        st.results = [];
        bundleInput.value = '';
        resultsInput.value = '';
        clear(outcome);
        clear(status);
        showChosen();
      },
    }, 'Clear');

    const showChosen = () => {
      clear(chosen);
      add(chosen, [
        h('h2', {}, 'Selected'),
        dl([
          ['Proof bundle', st.bundle ? h('span', { id: 'chosen-bundle' }, st.bundle.name, ` (${bytes(st.bundle.size)})`) : h('span', { class: 'muted' }, 'none yet')],
          ['Result files', st.results.length === 0 ? h('span', { class: 'muted' }, 'none (optional)')
            : h('ul', { class: 'plain', id: 'chosen-results' }, st.results.map((f) => h('li', { data: { file: f.name } },
              h('code', {}, f.name), ` (${bytes(f.size)}) `, f.sha256 ? fullDigest(f.sha256) : h('span', { class: 'muted' }, f.error || 'hashing…'))))],
        ]),
      ]);
      clearButton.hidden = !st.bundle && st.results.length === 0;
      verifyButton.disabled = !st.bundle || st.results.some((f) => !f.sha256 && !f.error);
    };

    const setBundle = async (file) => {
      st.bundle = { name: file.name, size: file.size, text: await file.text() };
      clear(outcome);
      clear(status);
      showChosen();
    };
    const addResults = async (files) => {
      const added = files.map((f) => ({ name: f.name, size: f.size, file: f, sha256: null, error: null }));
      st.results = st.results.filter((r) => !added.some((a) => a.name === r.name)).concat(added);
      clear(outcome);
      showChosen();
      for (const r of added) {
        try {
          r.sha256 = await sha256File(r.file);
        } catch (e) {
          r.error = `could not be read: ${e.message}`;
        }
        if (ctx.alive()) showChosen();
      }
    };

    bundleInput.addEventListener('change', () => { if (bundleInput.files[0]) setBundle(bundleInput.files[0]); });
    resultsInput.addEventListener('change', () => { addResults(Array.from(resultsInput.files)); });

    const drop = h('div', { class: 'drop', id: 'drop-zone' },
      h('p', { class: 'drop-title' }, 'Drop a proof bundle and result files here, or choose them:'),
      h('div', { class: 'field' }, h('label', { for: 'bundle-file' }, 'Proof bundle (JSON)'), bundleInput,
        h('small', { id: 'bundle-hint' }, 'bundle.json from the job\'s folder, or the job page\'s "Proof bundle" link')),
      h('div', { class: 'field' }, h('label', { for: 'result-files' }, 'Result files (optional)'), resultsInput,
        h('small', { id: 'results-hint' }, 'hashed here with SHA-256; only names and digests are sent')));
    drop.addEventListener('dragover', (ev) => { ev.preventDefault(); drop.classList.add('over'); });
    drop.addEventListener('dragleave', () => drop.classList.remove('over'));
    drop.addEventListener('drop', async (ev) => {
      ev.preventDefault();
      drop.classList.remove('over');
      const files = Array.from((ev.dataTransfer && ev.dataTransfer.files) || []);
      // A JSON file shaped like a bundle is the bundle; with no bundle yet, a lone file is
      // taken as the bundle (so a wrong file gets a clear error); the rest are result files.
      let bundle = null;
      for (const f of files) {
        if (!/\.json$/i.test(f.name) && f.type !== 'application/json') continue;
        try {
          if (looksLikeBundle(JSON.parse(await f.text()))) {
            bundle = f;
            break;
          }
        } catch {
          // not JSON: not the bundle
        }
      }
      if (!bundle && !st.bundle && files.length === 1) bundle = files[0];
      if (bundle) await setBundle(bundle);
      const rest = files.filter((f) => f !== bundle);
      if (rest.length) await addResults(rest);
    });

    const run = async () => {
      clear(outcome);
      clear(status);
      if (!st.bundle) {
        add(status, [errorBox('Choose a proof bundle first.')]);
        return;
      }
      let bundle;
      try {
        bundle = JSON.parse(st.bundle.text);
      } catch (e) {
        add(status, [errorBox(
          [h('code', {}, st.bundle.name), ` is not JSON (${e.message}). A proof bundle is the JSON file a job's `,
            h('code', {}, 'bundle.json'), ' holds, or what ', h('code', {}, 'GET /api/jobs/<id>/bundle'), ' returns.'],
          'Not a proof bundle')]);
        return;
      }
      const files = st.results.filter((f) => f.sha256).map((f) => ({ name: f.name, sha256: f.sha256 }));
      add(status, [h('p', { class: 'muted' }, 'Checking…')]);
      verifyButton.disabled = true;
      let report;
      try {
        report = await api('/api/verify', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
          body: JSON.stringify({ bundle, files }),
        });
      } catch (e) {
        clear(status);
        add(status, [errorBox(e.message, 'The node could not check it')]);
        return;
      } finally {
        verifyButton.disabled = false;
      }
      if (!ctx.alive()) return;
      clear(status);
      add(outcome, [verdict(report, bundle)]);
      const heading = outcome.querySelector('h2');
      if (heading) {
        heading.setAttribute('tabindex', '-1');
        heading.focus({ preventScroll: false });
      }
    };

    const form = h('form', { class: 'verify-form', onsubmit: (ev) => { ev.preventDefault(); run(); } },
      drop, chosen, h('div', { class: 'buttons' }, verifyButton, clearButton));
    showChosen();

    const job = ctx.query.get('job');
    if (job) {
      try {
        const b = await api(`/api/jobs/${enc(job)}/bundle`);
        const text = JSON.stringify(b);
        st.bundle = { name: `bundle of job ${job}`, size: text.length, text };
        showChosen();
        setTimeout(run, 0);
      } catch (e) {
        add(status, [errorBox(e.message, `Could not fetch the bundle of job ${job}`)]);
      }
    }

    return [h('h1', {}, 'Verify a proof'),
      h('p', { class: 'lead' }, 'A proof bundle holds a job\'s signed receipt, its log entry and an inclusion proof to a signed checkpoint. The node runs the checks of ',
        h('code', {}, 'poex verify'), ' on it under its own processor and log keys, and checks the result files you hold against the receipt. Files are hashed in this browser: their contents never leave your machine.'),
      form, status, outcome];
  }

  function verdict(report, bundle) {
    const checks = Array.isArray(report.checks) ? report.checks : [];
    const ok = (report.ok ?? report.verified) === true && checks.every((c) => c.ok);
    const failed = checks.filter((c) => !c.ok);
    const title = ok
      ? `Verified: all ${checks.length} checks passed`
      : `Not verified: ${failed.length} of ${checks.length} check${checks.length === 1 ? '' : 's'} failed (${failed.map((c) => c.check).join(', ')})`;
    const st = decodeEnvelope(bundle && bundle.receipt);
    const jobId = st && st.predicate && st.predicate.runDetails && st.predicate.runDetails.metadata
      ? st.predicate.runDetails.metadata.invocationId : null;
    const trusted = report.trusted || {};
    return h('div', { class: `verdict ${ok ? 'pass' : 'fail'}`, data: { ok: String(ok) } },
      h('h2', { id: 'verdict' }, h('span', { class: 'icon', 'aria-hidden': 'true' }, ok ? '✔ ' : '✘ '), title),
      jobId && /^[A-Za-z0-9-]{1,64}$/.test(jobId)
        ? h('p', {}, 'The receipt names job ', h('a', { href: `#/jobs/${enc(jobId)}` }, h('code', {}, jobId)), ' (decoded from the bundle; the link works if this node ran it).')
        : null,
      table('Checks, in the order they ran', ['Result', 'Check', 'What was found'],
        checks.map((c) => h('tr', { class: c.ok ? 'pass' : 'fail', data: { check: c.check, ok: String(c.ok) } },
          h('td', { class: 'result' }, h('span', { class: 'icon', 'aria-hidden': 'true' }, c.ok ? '✔' : '✘'), c.ok ? ' pass' : ' fail'),
          h('th', { scope: 'row' }, c.check),
          h('td', { class: 'detail' }, c.detail))),
        { class: 'checks', id: 'checks' }),
      trusted.processorKeyId || trusted.logVerifierKey ? dl([
        ['Trusted processor key', h('code', { class: 'wrap' }, trusted.processorKeyId || '—')],
        ['Trusted log key', h('code', { class: 'wrap' }, trusted.logVerifierKey || '—')],
      ]) : null,
      h('p', { class: 'note' }, 'These are this node\'s keys. To trust a proof without trusting this page, run ',
        h('code', {}, 'poex verify bundle.json --key PROCESSOR.pem --log-key VKEY'), ' with keys you got from the node\'s operator.'));
  }

  // ---------------------------------------------------------------------------------------
  // Start.

  async function nodeInfo() {
    const el = document.getElementById('node-info');
    try {
      const info = await api('/api/info');
      clear(el);
      add(el, ['poex ', info.version, ' · processor ', shortId(info.processor && info.processor.keyId),
        ' · log ', h('code', {}, info.log && info.log.origin ? info.log.origin : '—')]);
    } catch (e) {
      clear(el);
      add(el, [h('span', { class: 'error-inline' }, `The node did not answer /api/info: ${e.message}`)]);
    }
  }

  function start() {
    document.getElementById('skip').addEventListener('click', (ev) => {
      ev.preventDefault();
      main().focus();
    });
    window.addEventListener('hashchange', () => route(true));
    nodeInfo();
    route(false);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
