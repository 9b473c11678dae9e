// Slipway's pages work without this file; it only makes them live:
// the pipeline page follows /api/pipelines/{id}/events, the job page
// follows /api/jobs/{id}/log/stream, the GitOps page fetches /gitops/live.
"use strict";

(function () {
  const active = ["created", "pending", "running"];

  // Pipeline page: on each change, fetch the server-rendered live part
  // (status, graph, jobs) and swap it in.
  const pipeline = document.getElementById("pipeline");
  if (pipeline && pipeline.dataset.active === "true") {
    const id = pipeline.dataset.pipeline;
    const live = document.getElementById("live");
    let busy = false, again = false;
    const refresh = async () => {
      if (busy) { again = true; return; }
      busy = true;
      try {
        const res = await fetch("/pipelines/" + id + "/live", { headers: { Accept: "text/html" } });
        if (res.ok) live.innerHTML = await res.text();
      } finally {
        busy = false;
        if (again) { again = false; refresh(); }
      }
    };
    const es = new EventSource("/api/pipelines/" + id + "/events");
    es.addEventListener("pipeline", (e) => {
      refresh();
      const p = JSON.parse(e.data);
      // The server ends the stream when the pipeline ends; do not reconnect.
      if (!active.includes(p.status)) es.close();
    });
  }

  // Job page: append each new log line; the server rendered the log up to
  // data-from, and the stream goes on from there (a reconnecting browser
  // sends the offset of the last line it got as Last-Event-ID).
  const job = document.getElementById("job");
  if (job && job.dataset.live === "true") {
    const id = job.dataset.job;
    const log = document.getElementById("log");
    const state = document.getElementById("log-state");
    let headFresh = false;
    const refreshHead = async () => {
      const res = await fetch("/jobs/" + id + "/head");
      if (res.ok) document.getElementById("job-head").innerHTML = await res.text();
    };
    const nearBottom = () => window.innerHeight + window.scrollY >= document.body.scrollHeight - 80;
    const es = new EventSource("/api/jobs/" + id + "/log/stream?from=" + (Number(job.dataset.from) || 0));
    es.onmessage = (e) => {
      const follow = nearBottom();
      log.appendChild(renderLine(e.data));
      log.appendChild(document.createTextNode("\n"));
      if (!headFresh) { headFresh = true; refreshHead(); }
      if (follow) window.scrollTo(0, document.body.scrollHeight);
    };
    es.addEventListener("end", () => {
      es.close();
      job.dataset.live = "false";
      state.textContent = "log complete";
      refreshHead();
    });
  }

  // GitOps page: fetch the server-rendered deployments and images again
  // every few seconds while the page is visible.
  const gitops = document.getElementById("gitops");
  if (gitops && gitops.dataset.live === "true") {
    setInterval(async () => {
      if (document.hidden) return;
      const res = await fetch("/gitops/live", { headers: { Accept: "text/html" } });
      if (res.ok) gitops.innerHTML = await res.text();
    }, 2000);
  }

  // renderLine turns a line with ANSI SGR codes into a span, as the server's
  // ansihtml does (same CSS classes); text goes in as text, never as HTML.
  const colours = ["black", "red", "green", "yellow", "blue", "magenta", "cyan", "white"];
  function renderLine(text) {
    const line = document.createElement("span");
    line.className = "line";
    let st = {};
    const re = /\x1b\[([^@-~]*)([@-~])/g;
    let last = 0, m;
    const emit = (s) => {
      if (!s) return;
      const cls = [];
      if (st.fg) cls.push("fg-" + st.fg);
      if (st.bg) cls.push("bg-" + st.bg);
      if (st.bold) cls.push("bold");
      if (st.italic) cls.push("italic");
      if (st.u) cls.push("underline");
      if (cls.length === 0) { line.appendChild(document.createTextNode(s)); return; }
      const span = document.createElement("span");
      span.className = cls.join(" ");
      span.textContent = s;
      line.appendChild(span);
    };
    while ((m = re.exec(text)) !== null) {
      emit(text.slice(last, m.index).replace(/\x1b/g, ""));
      last = re.lastIndex;
      if (m[2] === "m") st = sgr(st, m[1]);
    }
    emit(text.slice(last).replace(/\x1b\[[^@-~]*$/, "").replace(/\x1b/g, ""));
    return line;
  }

  function sgr(st, params) {
    if (params === "") return {};
    const codes = params.split(";");
    st = Object.assign({}, st);
    for (let k = 0; k < codes.length; k++) {
      const n = Number(codes[k]);
      if (n === 0) st = {};
      else if (n === 1) st.bold = true;
      else if (n === 3) st.italic = true;
      else if (n === 4) st.u = true;
      else if (n === 22) st.bold = false;
      else if (n === 23) st.italic = false;
      else if (n === 24) st.u = false;
      else if (n >= 30 && n <= 37) st.fg = colours[n - 30];
      else if (n === 39) st.fg = "";
      else if (n >= 40 && n <= 47) st.bg = colours[n - 40];
      else if (n === 49) st.bg = "";
      else if (n >= 90 && n <= 97) st.fg = "bright-" + colours[n - 90];
      else if (n >= 100 && n <= 107) st.bg = "bright-" + colours[n - 100];
      else if (n === 38 || n === 48) k += codes[k + 1] === "5" ? 2 : codes[k + 1] === "2" ? 4 : 0;
    }
    return st;
  }
})();
