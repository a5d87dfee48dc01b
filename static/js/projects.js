// Suggests a slug from the project name while the slug field is untouched. No inline JS (CSP).
(function () {
  "use strict";
  function slugify(text) {
    return text.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase()
      .replace(/[^a-z0-9\s-]/g, "").trim().replace(/[\s-]+/g, "-").slice(0, 50).replace(/-+$/, "");
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("input[data-slug-from]").forEach(function (slug) {
      var source = document.getElementById(slug.getAttribute("data-slug-from"));
      if (!source) return;
      var touched = slug.value !== "";
      slug.addEventListener("input", function () { touched = slug.value !== ""; });
      source.addEventListener("input", function () {
        if (!touched) slug.placeholder = slugify(source.value) || "apollo";
      });
    });
  });
})();
