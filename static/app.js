// QAForge's small helpers: toasts, <dialog> open/close, auto-submitting selects, "select all", formset rows.
// No framework; htmx does the requests.
(function () {
  "use strict";

  const TOAST_MS = 8000;

  function dismissLater(toast) {
    // Errors stay until dismissed; other toasts fade on their own.
    if (!toast.classList.contains("toast-error")) {
      setTimeout(() => toast.remove(), TOAST_MS);
    }
  }

  // showToast({level, message, link}) — also the handler of the HX-Trigger "toast" event.
  function showToast(detail) {
    const region = document.getElementById("toasts");
    if (!region || !detail || !detail.message) return;
    const toast = document.createElement("div");
    toast.className = "toast toast-" + (detail.level || "info");
    toast.setAttribute("role", detail.level === "error" ? "alert" : "status");
    const text = document.createElement("span");
    text.textContent = detail.message;
    toast.appendChild(text);
    if (detail.link) {
      const a = document.createElement("a");
      a.href = detail.link;
      a.textContent = "Open";
      toast.append(" ", a);
    }
    const close = document.createElement("button");
    close.type = "button";
    close.className = "toast-close";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "×";
    toast.appendChild(close);
    region.appendChild(toast);
    dismissLater(toast);
  }
  window.qaforge = { showToast: showToast };

  document.addEventListener("toast", (event) => showToast(event.detail));

  function openDialog(selector) {
    const dialog = document.querySelector(selector);
    if (dialog && !dialog.open) dialog.showModal();
  }
  function closeDialog(dialog) {
    if (dialog && dialog.open) dialog.close();
  }
  window.qaforge.openDialog = openDialog;

  // A request still in flight from inside a closed dialog (the generate form closes its dialog before its request
  // leaves) must finish while its form is in the page: htmx fires the answer's HX-Trigger events (the toast) on
  // that form, and events on a detached element reach no listener.
  function removeWhenIdle(dialog) {
    if (!dialog.isConnected || dialog.open) return;
    if (dialog.querySelector(".htmx-request")) {
      dialog.addEventListener("htmx:afterRequest", () => setTimeout(() => removeWhenIdle(dialog), 0), { once: true });
      return;
    }
    dialog.remove();
  }

  // <dialog class="modal"> fragments (the generate and review dialogs) arrive appended to <body>: open each one,
  // and drop it from the page once it is closed.
  function setUpModal(dialog) {
    if (dialog.dataset.modalReady) return;
    dialog.dataset.modalReady = "1";
    dialog.addEventListener("close", () => removeWhenIdle(dialog));
    if (!dialog.open) dialog.showModal();
  }

  document.addEventListener("htmx:load", (event) => {
    const elt = event.detail.elt;
    if (!(elt instanceof Element)) return;
    if (elt.matches("dialog.modal")) setUpModal(elt);
    elt.querySelectorAll("dialog.modal").forEach(setUpModal);
    // Toasts pushed by the live stream (job-finished) fade like the others.
    if (elt.matches(".toast")) dismissLater(elt);
  });

  // HX-Trigger(-After-Swap): "close-dialog" closes the dialog the request came from.
  function onCloseDialog(event) {
    const own = event.target.closest && event.target.closest("dialog");
    if (own) closeDialog(own);
  }
  document.addEventListener("close-dialog", onCloseDialog);
  document.addEventListener("closeDialog", onCloseDialog);

  document.addEventListener("click", (event) => {
    const target = event.target;
    const opener = target.closest("[data-dialog-open]");
    if (opener) {
      event.preventDefault();
      openDialog(opener.getAttribute("data-dialog-open"));
      return;
    }
    const closer = target.closest("[data-dialog-close]");
    if (closer && closer.closest("dialog")) {
      // Outside a dialog (the full page without htmx) the control stays a plain link back.
      event.preventDefault();
      closeDialog(closer.closest("dialog"));
      return;
    }
    // A click on the backdrop closes a dialog, unless it holds edits worth keeping (data-keep-open).
    if (target.matches("dialog:not([data-keep-open])")) closeDialog(target);
    if (target.matches(".toast-close")) target.closest(".toast").remove();
    const adder = target.closest("[data-formset-add]");
    if (adder) addFormsetForm(adder.getAttribute("data-formset-add"));
  });

  document.addEventListener("change", (event) => {
    const target = event.target;
    if (target.matches("select[data-autosubmit]")) target.form.requestSubmit();
    const selectAll = target.getAttribute("data-select-all");
    if (selectAll) {
      document.querySelectorAll(selectAll).forEach((box) => {
        box.checked = target.checked;
      });
    }
  });

  // A Django formset's blank form, copied from its <template> with the next index.
  function addFormsetForm(prefix) {
    const template = document.querySelector(`template[data-formset-template="${prefix}"]`);
    const container = document.querySelector(`[data-formset="${prefix}"]`);
    const total = document.querySelector(`input[name="${prefix}-TOTAL_FORMS"]`);
    if (!template || !container || !total) return;
    const index = parseInt(total.value, 10);
    container.insertAdjacentHTML("beforeend", template.innerHTML.replace(/__prefix__/g, String(index)));
    total.value = String(index + 1);
    const first = container.lastElementChild.querySelector("input, textarea");
    if (first) first.focus();
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("#toasts .toast").forEach(dismissLater);
  });
})();
