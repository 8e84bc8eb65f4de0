// Handoff desk: the live queue, claim, chat with the visitor, end. Text is only ever set as text.
(function () {
  "use strict";
  var csrf = document.querySelector("meta[name=csrf-token]").content;
  var queue = document.getElementById("queue");
  var chat = document.getElementById("chat");
  var log = document.getElementById("chat-log");
  var form = document.getElementById("chat-form");
  var current = null;

  // what staff are told when a call fails: fixed text by status, never the server's words
  var FAILURES = {
    400: "该对话无法通过助手接口处理。", 401: "登录已失效，请刷新页面重新登录。", 403: "没有权限执行此操作。",
    404: "该对话已不在队列中。", 409: "该对话已由其他同事接入。", 502: "助手服务暂时不可用，请稍后重试。"
  };

  function api(method, path, body) {
    return fetch("/console/api" + path, {
      method: method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: body ? JSON.stringify(body) : undefined
    }).then(function (r) {
      if (!r.ok) throw new Error(FAILURES[r.status] || "操作失败，请稍后重试。");
      return r.json();
    }, function () { throw new Error("网络连接失败，请稍后重试。"); });
  }

  function button(text, onClick) {
    var b = document.createElement("button"); b.type = "button"; b.textContent = text;
    b.addEventListener("click", onClick); return b;
  }

  function refreshQueue() {
    api("GET", "/handoffs").then(function (data) {
      queue.textContent = "";
      if (!data.handoffs.length) { queue.textContent = "队列为空。"; return; }
      data.handoffs.forEach(function (h) {
        var row = document.createElement("li");
        row.setAttribute("data-testid", "handoff-row");
        row.appendChild(document.createTextNode(h.conversation_id.slice(0, 12) + "… · " + h.channel + " · " +
          (h.status === "claimed" ? "已接入：" + h.agent : "等待中") + " "));
        row.appendChild(button(h.status === "claimed" ? "打开" : "接入", function () {
          api("POST", "/handoffs/" + encodeURIComponent(h.conversation_id) + "/claim")
            .then(function () { open(h.conversation_id); }).catch(function (e) { alert(e.message); });
        }));
        queue.appendChild(row);
      });
    }).catch(function () { queue.textContent = "无法读取队列，稍后重试。"; });
  }

  function refreshChat() {
    if (!current) return;
    api("GET", "/handoffs/" + encodeURIComponent(current) + "/messages").then(function (data) {
      log.textContent = "";
      data.messages.forEach(function (m) {
        var p = document.createElement("p");
        p.className = "msg " + m.sender;
        p.textContent = (m.sender === "user" ? "访客：" : m.sender === "staff" ? "顾问：" : "助手：") + (m.text || "");
        log.appendChild(p);
      });
      log.scrollTop = log.scrollHeight;
    }).catch(function () { /* keep the messages shown; the next poll tries again */ });
  }

  function open(id) {
    current = id; chat.hidden = false;
    document.getElementById("chat-title").textContent = id;
    refreshChat(); refreshQueue();
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var input = form.querySelector("textarea");
    if (!current || !input.value.trim()) return;
    api("POST", "/handoffs/" + encodeURIComponent(current) + "/messages", { text: input.value })
      .then(function () { input.value = ""; refreshChat(); }).catch(function (err) { alert(err.message); });
  });
  document.getElementById("end").addEventListener("click", function () {
    if (!current) return;
    api("POST", "/handoffs/" + encodeURIComponent(current) + "/end").then(function (result) {
      if (result.resumed === false) alert("已结束接待，但助手无法恢复该对话（对话标识含不支持的字符）。");
      current = null; chat.hidden = true; refreshQueue();
    }).catch(function (err) { alert(err.message); });
  });
  refreshQueue();
  setInterval(refreshQueue, 5000);
  setInterval(refreshChat, 2000);
})();
