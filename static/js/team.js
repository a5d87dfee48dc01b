// Team page: a role changes only after the owner confirms it in a dialog saying what the new
// role may do. Without JavaScript the form posts unconfirmed and the server asks on a page.
(function () {
  "use strict";
  var dialog = document.getElementById("role-dialog");
  if (!dialog || typeof dialog.showModal !== "function") return;
  var pending = null;

  document.addEventListener("change", function (e) {
    var select = e.target;
    if (!select.matches || !select.matches("form[data-role-form] select[name=role]")) return;
    var form = select.form;
    var option = select.options[select.selectedIndex];
    pending = select;
    dialog.querySelector(".role-dialog-what").textContent =
      "Make " + form.getAttribute("data-member") + " " + (/^[AEIOU]/.test(option.text) ? "an " : "a ") + option.text + "?";
    dialog.querySelector(".role-dialog-power").textContent = option.text + ": " + option.getAttribute("data-power");
    dialog.querySelector(".role-dialog-self").hidden = !form.hasAttribute("data-self");
    dialog.returnValue = "";
    dialog.showModal();
  });

  dialog.addEventListener("close", function () {
    var select = pending;
    pending = null;
    if (!select) return;
    if (dialog.returnValue === "confirm") {
      select.form.querySelector("input[name=confirm]").value = "1";
      select.form.requestSubmit ? select.form.requestSubmit() : select.form.submit();
    } else {
      select.value = select.getAttribute("data-current");
    }
  });
})();
