// Starts Swagger UI on the service's own description. A file of its own, not
// an inline script, so that the page's Content-Security-Policy can forbid
// inline scripts. Everything is loaded from the service: no validator badge
// (it would call validator.swagger.io), no external fonts.
window.addEventListener("load", function () {
  "use strict";
  window.ui = SwaggerUIBundle({
    url: "openapi.json",
    dom_id: "#swagger-ui",
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    validatorUrl: null,
    deepLinking: true,
    displayRequestDuration: true,
    defaultModelsExpandDepth: 0,
    docExpansion: "list",
  });
});
