// Package openapi holds presignd's OpenAPI v2 document, written here by
// "buf generate" (protoc-gen-openapiv2, see buf.gen.yaml), and a small
// self-contained page that renders it. The server serves both, at
// /openapi.json and /docs.
package openapi

import _ "embed"

// JSON is the OpenAPI v2 (Swagger) document of the REST API.
//
//go:embed presignd.swagger.json
var JSON []byte

// DocsHTML renders /openapi.json in a browser: operations grouped by
// service with their parameters and responses, and every schema. It loads
// nothing but /openapi.json.
//
//go:embed docs.html
var DocsHTML []byte
