// The review dialog never loses work: Close/Escape with unsaved edits asks first, deleting a test case or a
// scenario can be undone until saved (the header counts what is kept), the coverage strip follows deletions, and a
// failed save focuses its first error. The form works without this file (checkboxes, submit, server-side checks).
(function () {
  "use strict";

  const FORM = "form[data-review]";

  function reviewForm(node) {
    return node && node.closest ? node.closest("dialog")?.querySelector(FORM) || node.closest(FORM) : null;
  }

  function isDirty(form) {
    return Boolean(form && form.dataset.dirty === "1");
  }

  function markDirty(form) {
    if (form) form.dataset.dirty = "1";
  }

  // --- Deleting with undo, counts and coverage ------------------------------------------------------------------

  function refresh(form) {
    let kept = 0;
    const articles = form.querySelectorAll("[data-case]");
    articles.forEach((article) => {
      const box = article.querySelector('input[type="checkbox"][name$="-DELETE"]:not([name*="-sc-"])');
      const deleted = Boolean(box && box.checked);
      article.classList.toggle("deleted", deleted);
      article.querySelector(".deleted-bar").hidden = !deleted;
      article.querySelector(".case-body").hidden = deleted;
      if (!deleted) kept += 1;
      article.querySelectorAll("[data-scenario]").forEach((scenario) => {
        const own = scenario.querySelector('input[type="checkbox"][name$="-DELETE"]');
        scenario.classList.toggle("removed", Boolean(own && own.checked));
      });
    });
    form.querySelectorAll("[data-kept-count]").forEach((span) => {
      span.textContent = String(kept);
    });
    form.querySelectorAll("[data-total-count]").forEach((span) => {
      span.textContent = String(articles.length);
    });
    // Which criteria the kept scenarios still cite, and by which ("Test case 2 · Scenario name").
    const cited = {};
    articles.forEach((article, index) => {
      if (article.classList.contains("deleted")) return;
      article.querySelectorAll("[data-scenario]:not(.removed)").forEach((scenario) => {
        const name = scenario.querySelector('input[name$="-name"]')?.value || "";
        (scenario.dataset.criteria || "").split(" ").filter(Boolean).forEach((n) => {
          (cited[n] = cited[n] || []).push(`Test case ${index + 1} · ${name}`);
        });
      });
    });
    let covered = 0;
    const items = form.querySelectorAll("[data-criterion]");
    items.forEach((item) => {
      if (item.classList.contains("queued")) return;
      const by = cited[item.dataset.criterion] || [];
      if (by.length) covered += 1;
      item.classList.toggle("uncovered", by.length === 0);
      const status = item.querySelector("[data-criterion-status]");
      if (!status) return;
      status.textContent = by.length ? `${by.length} scenario${by.length === 1 ? "" : "s"}` : "not covered";
      status.title = by.join("\n");
    });
    form.querySelectorAll("[data-covered-count]").forEach((span) => {
      span.textContent = String(covered);
    });
  }

  // --- Suggestions that join an open review -----------------------------------------------------------------------
  // "Generate for this criterion" queues a small job whose suggestions join this review. When the page's one live
  // stream says the story's job ended (its badge turns ready, failed or back to the count), the dialog asks for what
  // joined and adds it after its own test cases: the lead's edits, deletions and focus stay as they are.
  const ENDED = /data-state="(ready|failed|count)"/;

  document.addEventListener("htmx:sseBeforeMessage", (event) => {
    const message = event.detail;
    if (!message || !ENDED.test(message.data || "")) return;
    document.querySelectorAll("dialog[open] " + FORM).forEach((form) => {
      if (message.type === `story-${form.dataset.story}`) addJoined(form);
    });
  });

  async function addJoined(form) {
    if (form.dataset.joining) {
      form.dataset.joinAgain = "1"; // one question at a time; ask once more when it is answered
      return;
    }
    form.dataset.joining = "1";
    try {
      const total = form.querySelector('input[name="case-TOTAL_FORMS"]');
      const shown = [...form.querySelectorAll('input[name^="case-"][name$="-suggestion"]')].map((i) => i.value);
      const query = new URLSearchParams({ start: total.value, shown: shown.join(" ") });
      let response;
      try {
        response = await fetch(`${form.dataset.joinedUrl}?${query}`, {
          headers: { "HX-Request": "true" },
          credentials: "same-origin",
        });
      } catch {
        return; // offline for a moment: the next badge (or tick) asks again
      }
      if (response.status !== 200 || !form.isConnected) return;
      const holder = document.createElement("template");
      holder.innerHTML = await response.text();
      insertJoined(form, holder.content);
    } finally {
      delete form.dataset.joining;
      if (form.dataset.joinAgain) {
        delete form.dataset.joinAgain;
        addJoined(form);
      }
    }
  }

  // A page whose stream does not carry this story (a review opened from the review queue for a story the table
  // does not list) has no badge to hear from: while a criterion is generating, the dialog asks now and then.
  const ASK_EVERY_MS = 3000;
  function watchWithoutStream(form) {
    if (form.dataset.asking || document.getElementById(`story-${form.dataset.story}-badge`)) return;
    form.dataset.asking = "1";
    const tick = () => {
      if (!form.isConnected || !form.querySelector("[data-criterion].queued")) {
        delete form.dataset.asking;
        return;
      }
      addJoined(form).finally(() => setTimeout(tick, ASK_EVERY_MS));
    };
    setTimeout(tick, ASK_EVERY_MS);
  }

  function insertJoined(form, fragment) {
    const cases = [...fragment.querySelectorAll("[data-case]")];
    const own = form.querySelectorAll("[data-case]");
    const anchor = own.length ? own[own.length - 1].nextSibling : form.querySelector(".dialog-actions");
    cases.forEach((article) => {
      article.classList.add("joined");
      anchor.parentNode.insertBefore(article, anchor);
      if (window.htmx) htmx.process(article);
    });
    if (cases.length) {
      form.querySelector(":scope > p.empty")?.remove();
      const count = String(form.querySelectorAll("[data-case]").length);
      form.querySelector('input[name="case-TOTAL_FORMS"]').value = count;
      form.querySelector('input[name="case-INITIAL_FORMS"]').value = count;
      const note = form.querySelector("[data-joined-note]");
      if (note) {
        const first = own.length + 1;
        const which = cases.length === 1 ? `test case ${first}` : `test cases ${first}–${first + cases.length - 1}`;
        note.textContent = `${cases.length} new suggestion${cases.length === 1 ? "" : "s"} joined this review: ${which}.`;
        note.hidden = false;
      }
    }
    // Rows that said "Generating for AC-n" become ordinary rows again; the others are left as they are.
    const fresh = fragment.querySelector("template[data-joined-criteria]");
    form.querySelectorAll("[data-criterion].queued").forEach((row) => {
      const replacement = fresh?.content.querySelector(`[data-criterion="${row.dataset.criterion}"]`);
      if (!replacement || replacement.classList.contains("queued")) return; // its job still runs
      const hadFocus = row.contains(document.activeElement);
      row.replaceWith(replacement);
      if (window.htmx) htmx.process(replacement);
      if (hadFocus) replacement.focus();
    });
    const warnings = fragment.querySelector("template[data-joined-warnings]")?.content.firstElementChild;
    const shown = form.querySelector("[data-review-warnings]");
    if (warnings && shown && warnings.textContent !== shown.textContent) shown.replaceWith(warnings);
    refresh(form);
  }

  document.addEventListener("change", (event) => {
    const form = event.target.closest && event.target.closest(FORM);
    if (!form) return;
    markDirty(form);
    if (event.target.matches('input[type="checkbox"][name$="-DELETE"]')) {
      refresh(form);
      const article = event.target.closest("[data-case]");
      if (article && article.classList.contains("deleted")) article.querySelector("[data-undo-delete]").focus();
    }
  });
  document.addEventListener("input", (event) => {
    const form = event.target.closest && event.target.closest(FORM);
    if (form) markDirty(form);
  });
  document.addEventListener("click", (event) => {
    const undo = event.target.closest && event.target.closest("[data-undo-delete]");
    if (!undo) return;
    const article = undo.closest("[data-case]");
    const box = article.querySelector('input[type="checkbox"][name$="-DELETE"]:not([name*="-sc-"])');
    box.checked = false;
    refresh(undo.closest(FORM));
    box.focus();
  });

  // A link that would open a review already open here (the toast "SHOP-3 ready to review · Review" raised when
  // suggestions join it) brings the lead back to that dialog instead of stacking a second, blank copy over it.
  document.addEventListener(
    "click",
    (event) => {
      const link = event.target.closest && event.target.closest("a[href]");
      const job = link && link.getAttribute("href").match(/\/generation\/jobs\/([0-9a-f-]+)\/review(?:$|\?)/);
      if (!job) return;
      const open = [...document.querySelectorAll("dialog[open] " + FORM)].find((f) => f.dataset.job === job[1]);
      if (!open) return;
      event.preventDefault();
      event.stopPropagation();
      link.closest(".toast")?.remove();
      const note = open.querySelector("[data-joined-note]:not([hidden])");
      (note || open.querySelector("input, textarea, select"))?.focus();
    },
    true,
  );

  // --- Closing with unsaved edits asks first ---------------------------------------------------------------------

  function askBeforeClosing(dialog) {
    const form = dialog.querySelector(FORM);
    let bar = form.querySelector(".unsaved-confirm");
    if (!bar) {
      bar = document.createElement("div");
      bar.className = "unsaved-confirm";
      bar.setAttribute("role", "alertdialog");
      bar.setAttribute("aria-label", "Unsaved edits");
      bar.innerHTML =
        "<p><strong>You have unsaved edits in this review.</strong> Close it and lose them?</p>" +
        '<button type="button" data-keep-editing>Keep editing</button> ' +
        '<button type="button" class="secondary" data-close-anyway>Close without saving</button>';
      form.prepend(bar);
    }
    bar.hidden = false;
    bar.querySelector("[data-keep-editing]").focus();
  }

  document.addEventListener(
    "click",
    (event) => {
      const target = event.target;
      if (!target.closest) return;
      const dialog = target.closest("dialog");
      if (!dialog || !dialog.querySelector(FORM)) return;
      if (target.closest("[data-keep-editing]")) {
        target.closest(".unsaved-confirm").hidden = true;
        return;
      }
      if (target.closest("[data-close-anyway]")) {
        dialog.querySelector(FORM).dataset.dirty = "";
        dialog.close();
        return;
      }
      if (target.closest("[data-dialog-close]") && isDirty(dialog.querySelector(FORM))) {
        // Before app.js closes the dialog (it listens on the bubbling phase).
        event.preventDefault();
        event.stopPropagation();
        askBeforeClosing(dialog);
      }
    },
    true,
  );

  function guardEscape(dialog) {
    if (dialog.dataset.reviewGuard) return;
    dialog.dataset.reviewGuard = "1";
    dialog.addEventListener("cancel", (event) => {
      if (isDirty(dialog.querySelector(FORM))) {
        event.preventDefault();
        askBeforeClosing(dialog);
      }
    });
  }

  // Leaving the page (reload, a link) with a dialog full of edits asks too.
  window.addEventListener("beforeunload", (event) => {
    const open = [...document.querySelectorAll("dialog[open] " + FORM)].some(isDirty);
    if (open) event.preventDefault();
  });

  // --- After a swap: keep the state, focus the first error -------------------------------------------------------

  function focusTarget(id) {
    const target = document.getElementById(id);
    if (!target) return;
    const details = target.closest("details");
    if (details) details.open = true;
    target.scrollIntoView({ block: "center" });
    target.focus({ preventScroll: true });
  }

  function setUp(form) {
    const dialog = form.closest("dialog");
    if (dialog) guardEscape(dialog);
    if (form.hasAttribute("data-unsaved")) markDirty(form); // a re-rendered form still holds unsaved edits
    if (form.querySelector("[data-criterion].queued")) watchWithoutStream(form);
    refresh(form);
    const first = form.querySelector('[aria-invalid="true"]');
    if (form.hasAttribute("data-has-errors") && first) {
      focusTarget(first.id);
    } else if (form.querySelector("#review-confirm")) {
      form.querySelector("#review-confirm button").focus();
    }
  }

  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest("a[data-focus]");
    if (!link) return;
    event.preventDefault();
    focusTarget(link.dataset.focus);
  });

  // Toasts raised while the review dialog is open are moved into it: a modal dialog sits in the top layer, above
  // #toasts. (Only the review: the generate dialog closes before its answer arrives.)
  function liftToasts() {
    const dialog = [...document.querySelectorAll("dialog.modal[open]")].filter((d) => d.querySelector(FORM)).pop();
    const region = document.getElementById("toasts");
    if (!dialog || !region) return;
    let local = dialog.querySelector(".dialog-toasts");
    if (!local) {
      local = document.createElement("div");
      local.className = "dialog-toasts";
      local.setAttribute("aria-live", "assertive");
      dialog.appendChild(local);
    }
    // Just above the dialog's sticky footer: a toast that stays (an error) never covers Save.
    const footer = dialog.querySelector(FORM + " .dialog-actions");
    if (footer) local.style.bottom = `${Math.max(16, window.innerHeight - footer.getBoundingClientRect().top + 8)}px`;
    region.querySelectorAll(".toast").forEach((toast) => local.appendChild(toast));
  }

  document.addEventListener("DOMContentLoaded", () => {
    const region = document.getElementById("toasts");
    if (region) new MutationObserver(liftToasts).observe(region, { childList: true });
    document.querySelectorAll(FORM).forEach(setUp);
  });

  document.addEventListener("htmx:load", (event) => {
    const elt = event.detail.elt;
    if (!(elt instanceof Element)) return;
    // "Generate for this criterion" replaced its own row (and the focused button): the focus goes to the row.
    if (elt.matches("[data-criterion].queued")) {
      if (document.activeElement === document.body) elt.focus();
      const form = elt.closest(FORM);
      if (form) watchWithoutStream(form);
    }
    if (elt.matches(FORM)) setUp(elt);
    elt.querySelectorAll(FORM).forEach(setUp);
  });
})();
