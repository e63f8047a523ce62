// Console enhancements; every action also works without this script.
"use strict";

// ---- incidents: keyboard shortcuts ----
//
// The pages mark what a key does with data attributes, so this script
// knows no routes and no wording:
//   [data-shortcuts="list"]      the incident list; rows are [data-row],
//                                each with an a[data-open] and maybe a
//                                form[data-shortcut="a"] (acknowledge)
//   [data-shortcuts="incident"]  one incident
//   [data-shortcut="x"]          key x: a form is submitted (after
//                                confirm(data-confirm) when set), a field
//                                is focused, a link followed
//   #shortcut-help               the help dialog, opened by "?"
// Keys are ignored while typing in a field and with Ctrl, Alt or Meta
// held; Esc closes the help or leaves the field.
(function () {
  var list = document.querySelector('[data-shortcuts="list"]');
  var page = list || document.querySelector('[data-shortcuts="incident"]');
  if (!page) {
    return;
  }
  var help = document.getElementById("shortcut-help");
  var rows = list ? Array.prototype.slice.call(list.querySelectorAll("[data-row]")) : [];
  var selected = -1;

  function select(i, focus) {
    if (rows.length === 0) {
      return;
    }
    i = Math.max(0, Math.min(rows.length - 1, i));
    if (selected >= 0) {
      rows[selected].classList.remove("selected");
      rows[selected].removeAttribute("aria-current");
    }
    selected = i;
    var row = rows[i];
    row.classList.add("selected");
    row.setAttribute("aria-current", "true");
    if (focus) {
      var link = row.querySelector("a[data-open]");
      if (link) {
        link.focus({ preventScroll: true });
      }
      row.scrollIntoView({ block: "nearest" });
    }
  }

  // Start on the row the page came back to (#incident-…), else the first.
  if (rows.length > 0) {
    var start = 0;
    rows.forEach(function (row, i) {
      if (location.hash && "#" + row.id === location.hash) {
        start = i;
      }
    });
    select(start, false);
    rows.forEach(function (row, i) {
      row.addEventListener("click", function () { select(i, false); });
    });
  }

  function typing(el) {
    if (!el) {
      return false;
    }
    var tag = el.tagName;
    return el.isContentEditable || tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT";
  }

  // act does what element el stands for.
  function act(el) {
    if (el.tagName === "FORM") {
      if (el.dataset.confirm && !window.confirm(el.dataset.confirm)) {
        return;
      }
      if (el.requestSubmit) {
        el.requestSubmit();
      } else {
        el.submit();
      }
    } else if (el.tagName === "A") {
      el.click();
    } else {
      el.focus();
    }
  }

  // target finds the element bound to key: in the selected row first on
  // the list, then anywhere on the page.
  function target(key) {
    var sel = '[data-shortcut="' + key + '"]';
    if (list) {
      return selected >= 0 ? rows[selected].querySelector(sel) : null;
    }
    return page.querySelector(sel);
  }

  function toggleHelp() {
    if (!help || !help.showModal) {
      return;
    }
    if (help.open) {
      help.close();
    } else {
      help.showModal();
    }
  }

  document.addEventListener("keydown", function (e) {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || e.isComposing) {
      return;
    }
    if (e.key === "Escape") {
      if (help && help.open) {
        return; // the dialog closes itself
      }
      if (typing(document.activeElement)) {
        document.activeElement.blur();
        e.preventDefault();
      }
      return;
    }
    if (typing(e.target) || (help && help.open)) {
      return;
    }
    var key = e.key;
    if (key === "?") {
      e.preventDefault();
      toggleHelp();
      return;
    }
    if (list) {
      switch (key) {
        case "j":
          e.preventDefault();
          select(selected + 1, true);
          return;
        case "k":
          e.preventDefault();
          select(selected - 1, true);
          return;
        case "o":
        case "Enter":
          // Enter on a focused link or button already does its own thing.
          if (key === "Enter" && e.target !== document.body) {
            return;
          }
          if (selected >= 0) {
            var link = rows[selected].querySelector("a[data-open]");
            if (link) {
              e.preventDefault();
              link.click();
            }
          }
          return;
      }
    }
    if (key.length !== 1) {
      return;
    }
    var el = target(key);
    if (el) {
      e.preventDefault();
      act(el);
    }
  });
})();
