/*
 * 呼叫中心许可证助手 — embeddable chat widget.
 *
 * <script src="https://host/widget.js" data-server="https://host"
 *         data-title="呼叫中心许可证助手" data-color="#0f4c81" async></script>
 *
 * Everything renders inside a shadow root (no CSS leaks either way). Bot and
 * visitor text is only ever inserted as text nodes: no HTML is interpreted.
 */
(function () {
  "use strict";

  var script = document.currentScript || document.querySelector('script[src*="widget.js"]');
  if (!script || script.dataset.cclwLoaded) return;
  script.dataset.cclwLoaded = "1";

  var server = (script.dataset.server || new URL(script.src).origin).replace(/\/+$/, "");
  var title = script.dataset.title || "呼叫中心许可证助手";
  var color = /^#[0-9a-fA-F]{3,8}$/.test(script.dataset.color || "") ? script.dataset.color : "#0f4c81";
  var storeKey = "cclw:" + server;
  var WELCOME = {
    text: "您好！我是" + title + "，可以解答全网/地网、申请条件、材料、办理流程、年报、95/96号码等问题，并注明政策依据。",
    buttons: [
      { title: "全网和地网的区别", payload: "/ask_licence_types" },
      { title: "申请条件", payload: "/ask_conditions" },
      { title: "需要哪些材料", payload: "/ask_materials" },
      { title: "我们能不能办？", payload: "/check_eligibility" }
    ]
  };

  // ---------- storage (never throws: private mode or full quota just disables it)
  function load(key, fallback) {
    try { var v = localStorage.getItem(storeKey + ":" + key); return v ? JSON.parse(v) : fallback; }
    catch (e) { return fallback; }
  }
  function save(key, value) {
    try { localStorage.setItem(storeKey + ":" + key, JSON.stringify(value)); } catch (e) { /* ignore */ }
  }

  // ---------- DOM
  var host = document.createElement("div");
  host.setAttribute("data-cclw", "");
  var root = host.attachShadow({ mode: "open" });
  var stylesheet = document.createElement("link");
  stylesheet.rel = "stylesheet";
  stylesheet.href = server + "/widget.css";
  root.appendChild(stylesheet);
  var template = document.createElement("template");  // static markup only: no data goes in here
  template.innerHTML =
    '<section class="panel" role="dialog" aria-label="" hidden>' +
    '  <div class="header"><h2></h2>' +
    '    <button type="button" class="handoff" data-testid="chat-handoff">转人工</button>' +
    '    <button type="button" class="close" aria-label="关闭对话">✕</button></div>' +
    '  <div class="status" role="status" hidden></div>' +
    '  <div class="privacy" hidden><span>对话内容会被保存，仅用于解答您的问题和改进服务；请勿发送身份证号等敏感信息。</span>' +
    '    <button type="button">知道了</button></div>' +
    '  <div class="log" role="log" aria-live="polite" aria-relevant="additions" tabindex="0"></div>' +
    '  <form class="composer">' +
    '    <textarea data-testid="chat-input" rows="1" aria-label="输入您的问题" placeholder="输入问题，Enter 发送，Shift+Enter 换行" maxlength="2000"></textarea>' +
    '    <button type="submit" data-testid="chat-send">发送</button></form>' +
    '</section>' +
    '<button type="button" class="launcher" data-testid="chat-launcher" aria-label="打开在线咨询" aria-expanded="false">' +
    '  <svg viewBox="0 0 24 24" width="28" height="28" aria-hidden="true"><path fill="currentColor" d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2zm3 6.5a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm5 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm5 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3z"/></svg>' +
    '  <span class="badge" aria-live="polite" hidden></span></button>';
  root.appendChild(template.content);
  host.style.setProperty("--accent", color);

  var panel = root.querySelector(".panel");
  var launcher = root.querySelector(".launcher");
  var badge = root.querySelector(".badge");
  var log = root.querySelector(".log");
  var input = root.querySelector("textarea");
  var form = root.querySelector("form");
  var statusBar = root.querySelector(".status");
  var privacy = root.querySelector(".privacy");
  root.querySelector("h2").textContent = title;
  panel.setAttribute("aria-label", title);

  var unread = 0;
  var composing = false;
  var typingEl = null;
  var typingTimer = null;

  function time(ts) {
    var d = ts ? new Date(ts * 1000) : new Date();
    return ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2);
  }

  // ---------- safe rendering: **bold**, lists, links, line breaks — as DOM nodes only
  function inline(parent, text) {
    var pattern = /\*\*([^*]+)\*\*|\[([^\]]+)\]\((https?:\/\/[^\s)]+)\)|(https?:\/\/[^\s，。）)]+)/g;
    var last = 0, m;
    while ((m = pattern.exec(text))) {
      if (m.index > last) parent.appendChild(document.createTextNode(text.slice(last, m.index)));
      if (m[1]) {
        var b = document.createElement("strong"); b.textContent = m[1]; parent.appendChild(b);
      } else {
        var a = document.createElement("a");
        a.href = m[3] || m[4]; a.textContent = m[2] || m[4];
        a.target = "_blank"; a.rel = "noopener noreferrer nofollow";
        parent.appendChild(a);
      }
      last = pattern.lastIndex;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }

  function render(container, text) {
    var list = null;
    String(text || "").split("\n").forEach(function (line, i, lines) {
      var item = /^\s*(?:[-*·]|\d+[.、])\s+(.*)$/.exec(line);
      if (item) {
        if (!list) { list = document.createElement(/^\s*\d/.test(line) ? "ol" : "ul"); container.appendChild(list); }
        var li = document.createElement("li"); inline(li, item[1]); list.appendChild(li);
        return;
      }
      list = null;
      inline(container, line);
      if (i < lines.length - 1) container.appendChild(document.createElement("br"));
    });
  }

  function scroll() { log.scrollTop = log.scrollHeight; }

  function addMessage(sender, text, options) {
    options = options || {};
    var wrap = document.createElement("div");
    wrap.className = "msg " + sender + (options.pending ? " pending" : "");
    wrap.setAttribute("data-testid", sender === "user" ? "chat-message-user" : "chat-message-bot");
    var bubble = document.createElement("div");
    bubble.className = "bubble";
    render(bubble, text);
    wrap.appendChild(bubble);
    var meta = document.createElement("div");
    meta.className = "meta";
    var when = document.createElement("time");
    when.textContent = time(options.timestamp);
    meta.appendChild(when);
    if (options.pending) {
      var waiting = document.createElement("span"); waiting.className = "pending-label"; waiting.textContent = "待发送";
      meta.appendChild(waiting);
    }
    if (sender === "bot" && options.feedback !== false && text) addFeedback(meta, text);
    wrap.appendChild(meta);
    if (options.buttons && options.buttons.length) {
      var replies = document.createElement("div");
      replies.className = "replies";
      options.buttons.forEach(function (button) {
        var el = document.createElement("button");
        el.type = "button";
        el.setAttribute("data-testid", "chat-quick-reply");
        el.textContent = button.title;
        el.addEventListener("click", function () { send(button.payload, button.title); });
        replies.appendChild(el);
      });
      wrap.appendChild(replies);
    }
    log.appendChild(wrap);
    scroll();
    return wrap;
  }

  function addFeedback(meta, text) {
    [["👍", 1, "有帮助"], ["👎", -1, "没有帮助"]].forEach(function (f) {
      var b = document.createElement("button");
      b.type = "button"; b.textContent = f[0]; b.setAttribute("aria-label", f[2]); b.setAttribute("aria-pressed", "false");
      b.setAttribute("data-testid", f[1] > 0 ? "chat-feedback-up" : "chat-feedback-down");
      b.addEventListener("click", function () {
        Array.prototype.forEach.call(meta.querySelectorAll("button"), function (o) { o.setAttribute("aria-pressed", "false"); });
        b.setAttribute("aria-pressed", "true");
        withSession(function (s) {
          fetch(server + "/api/feedback", { method: "POST", headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ session_id: s.session_id, token: s.token, value: f[1], message_text: text }) })
            .catch(function () { /* feedback is best effort */ });
        });
      });
      meta.appendChild(b);
    });
  }

  function showTyping(on) {
    clearTimeout(typingTimer);
    if (on && !typingEl) {
      typingEl = document.createElement("div");
      typingEl.className = "msg bot typing";
      typingEl.setAttribute("aria-label", "助手正在输入");
      var bubble = document.createElement("div"); bubble.className = "bubble"; bubble.textContent = "•••";
      typingEl.appendChild(bubble); log.appendChild(typingEl); scroll();
      typingTimer = setTimeout(function () { showTyping(false); }, 30000);
    } else if (!on && typingEl) {
      typingEl.remove(); typingEl = null;
    }
  }

  function setOnline(online) {
    statusBar.hidden = online;
    statusBar.textContent = online ? "" : "连接已断开，正在重新连接…您发送的消息会在恢复后自动送达。";
    statusBar.setAttribute("data-testid", online ? "chat-online" : "chat-offline");
  }

  function open(show) {
    panel.hidden = !show;
    launcher.setAttribute("aria-expanded", String(show));
    launcher.setAttribute("aria-label", show ? "收起在线咨询" : "打开在线咨询");
    save("open", show);
    if (show) {
      unread = 0; badge.hidden = true;
      if (!load("privacyAccepted", false)) privacy.hidden = false;
      setTimeout(function () { input.focus(); }, 0);
      start();
    }
  }

  // ---------- session, history and transport
  var session = load("session", null);
  var waiters = [];
  function withSession(fn) {
    if (session) return fn(session);
    waiters.push(fn);
    if (waiters.length > 1) return;
    fetch(server + "/api/session", { method: "POST" })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (s) { session = s; save("session", s); waiters.splice(0).forEach(function (w) { w(s); }); })
      .catch(function () { waiters = []; setOnline(false); setTimeout(function () { withSession(fn); }, 3000); });
  }

  var socket = null;
  var confirmed = false;
  var queue = load("queue", []);
  var started = false;

  function flush() {
    if (!socket || !confirmed) return;
    while (queue.length) {
      var item = queue.shift();
      save("queue", queue);
      socket.emit("user_uttered", { message: item.message, session_id: session.session_id });
      var pending = log.querySelector('[data-queue-id="' + item.id + '"]');
      if (pending) {
        pending.classList.remove("pending");
        var label = pending.querySelector(".pending-label"); if (label) label.remove();
      }
      showTyping(true);
    }
  }

  function loadScript(src, done) {
    if (window.io) return done();
    var s = document.createElement("script"); s.src = src; s.async = true; s.onload = done;
    s.onerror = function () { setOnline(false); setTimeout(function () { loadScript(src, done); }, 5000); };
    document.head.appendChild(s);
  }

  function connect(s) {
    loadScript(server + "/vendor/socket.io.min.js", function () {
      socket = window.io(s.socket_url, {
        path: s.socket_path, transports: ["websocket"],
        reconnection: true, reconnectionDelay: 1000, reconnectionDelayMax: 10000, randomizationFactor: 0.5
      });
      // the signed token proves this browser holds the session: an id alone opens nothing
      socket.on("connect", function () { socket.emit("session_request", { session_id: s.session_id, token: s.token }); });
      socket.on("session_confirm", function () { confirmed = true; setOnline(true); flush(); });
      socket.on("disconnect", function () { confirmed = false; setOnline(false); });
      socket.on("connect_error", function () { confirmed = false; setOnline(false); });
      socket.on("bot_uttered", function (m) {
        showTyping(false);
        if (!m || (!m.text && !m.quick_replies && !m.buttons)) return;
        addMessage("bot", m.text || "", { buttons: m.quick_replies || m.buttons });
        broadcast({ sender: "bot", text: m.text || "", buttons: m.quick_replies || m.buttons });
        if (panel.hidden) { unread += 1; badge.textContent = String(unread); badge.hidden = false; }
      });
    });
  }

  var renewed = false;
  function start() {
    if (started) return;
    started = true;
    withSession(function (s) {
      // the token goes in a header: URLs end up in access logs
      fetch(server + "/api/history?session_id=" + encodeURIComponent(s.session_id),
            { headers: { "X-Widget-Token": s.token } })
        .then(function (r) {
          if (r.status === 403 && !renewed) return null;  // signed with a secret since replaced
          return r.ok ? r.json() : { messages: [] };
        })
        .catch(function () { return { messages: [] }; })
        .then(function (h) {
          if (h === null) {
            renewed = true; started = false; session = null; save("session", null);
            return start();
          }
          var messages = h.messages || [];
          if (!messages.length) addMessage("bot", WELCOME.text, { buttons: WELCOME.buttons, feedback: false });
          messages.forEach(function (m, i) {
            addMessage(m.sender, m.text, { timestamp: m.timestamp,
              buttons: i === messages.length - 1 ? m.buttons : null });
          });
          queue.forEach(function (item) {
            addMessage("user", item.display, { pending: true }).setAttribute("data-queue-id", item.id);
          });
          connect(s);
        });
    });
  }

  function send(message, display) {
    message = String(message || "").trim();
    if (!message) return;
    var item = { id: Date.now() + "-" + Math.random().toString(16).slice(2), message: message, display: display || message };
    queue.push(item);
    save("queue", queue);
    var el = addMessage("user", item.display, { pending: !confirmed });
    el.setAttribute("data-queue-id", item.id);
    broadcast({ sender: "user", text: item.display });
    if (confirmed) flush();
  }

  // other tabs of the same site show the same conversation
  var channel = window.BroadcastChannel ? new BroadcastChannel(storeKey) : null;
  function broadcast(m) { if (channel && m.sender === "user") channel.postMessage(m); }
  if (channel) channel.onmessage = function (e) {
    if (started && e.data && e.data.sender === "user") addMessage("user", e.data.text);
  };

  // ---------- events
  launcher.addEventListener("click", function () { open(panel.hidden); });
  root.querySelector(".close").addEventListener("click", function () { open(false); launcher.focus(); });
  root.querySelector(".handoff").addEventListener("click", function () { send("转人工"); });
  privacy.querySelector("button").addEventListener("click", function () { privacy.hidden = true; save("privacyAccepted", true); });
  panel.addEventListener("keydown", function (e) { if (e.key === "Escape") { open(false); launcher.focus(); } });
  form.addEventListener("submit", function (e) { e.preventDefault(); send(input.value); input.value = ""; });
  input.addEventListener("compositionstart", function () { composing = true; });
  input.addEventListener("compositionend", function () { setTimeout(function () { composing = false; }, 0); });
  input.addEventListener("keydown", function (e) {
    if (e.key !== "Enter" || e.shiftKey) return;
    // Enter that confirms an input-method candidate must not send
    if (composing || e.isComposing || e.keyCode === 229) return;
    e.preventDefault();
    send(input.value); input.value = "";
  });

  function mount() {
    document.body.appendChild(host);
    if (load("open", false)) open(true);
  }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
