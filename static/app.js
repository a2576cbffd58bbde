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
  // HX-Trigger: {"closeDialog": {}} closes the dialog the request came from (or every open one).
  document.addEventListener("closeDialog", (event) => {
    const own = event.target.closest && event.target.closest("dialog");
    if (own) closeDialog(own);
    else document.querySelectorAll("dialog[open]").forEach(closeDialog);
  });

  document.addEventListener("click", (event) => {
    const target = event.target;
    const opener = target.closest("[data-dialog-open]");
    if (opener) {
      event.preventDefault();
      openDialog(opener.getAttribute("data-dialog-open"));
      return;
    }
    const closer = target.closest("[data-dialog-close]");
    if (closer) {
      event.preventDefault();
      closeDialog(closer.closest("dialog"));
      return;
    }
    if (target.matches("dialog")) closeDialog(target); // a click on the backdrop
    if (target.matches(".toast-close")) target.closest(".toast").remove();
    const adder = target.closest("[data-formset-add]");
    if (adder) addFormsetForm(adder.getAttribute("data-formset-add"));
  });

  // Content swapped into a closed <dialog> opens it.
  document.addEventListener("htmx:afterSwap", (event) => {
    const dialog = event.detail.target.closest && event.detail.target.closest("dialog");
    if (dialog && !dialog.open) dialog.showModal();
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
