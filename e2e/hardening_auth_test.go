package e2e

import (
	"net/http"
	"slices"
	"testing"

	"github.com/presignd/presignd/auth/authtest"
)

// TestJWTCritIsIgnored is issue 18 defect 8: a JWT whose protected header
// makes an extension critical (RFC 7515 §4.1.11), or carries a malformed
// "crit", was accepted. The real binary now answers 401 to each, and still
// accepts the same token without "crit".
func TestJWTCritIsIgnored(t *testing.T) {
	inst, iss := startWithIssuer(t, "")
	claims := iss.Valid("dev")
	tests := []struct {
		name   string
		header map[string]any
		want   int
	}{
		{"the same token without crit is accepted", map[string]any{"typ": "JWT"}, http.StatusOK},
		{"crit naming an extension presignd does not implement", map[string]any{"crit": []string{"x-policy"}, "x-policy": "strict"}, http.StatusUnauthorized},
		{"crit naming the unencoded-payload extension", map[string]any{"crit": []string{"b64"}, "b64": false}, http.StatusUnauthorized},
		{"an empty crit", map[string]any{"crit": []string{}}, http.StatusUnauthorized},
		{"crit naming a registered header", map[string]any{"crit": []string{"alg"}}, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := iss.SignWithHeader(t, authtest.RSAKey, tt.header, claims)
			if code, body := inst.restWithKey(t, token, "GET", "/v1/files", nil); code != tt.want {
				t.Fatalf("GET /v1/files: %d %v, want %d", code, body, tt.want)
			}
		})
	}
}

// TestBidiOverridesPassInNames is issue 18 defect 9: "x\u202egnp.exe" was
// stored and offered as a download name rendering as "xexe.png". The real
// binary now refuses Unicode format characters in file and display names,
// with a field violation, and stores nothing.
func TestBidiOverridesPassInNames(t *testing.T) {
	inst := start(t)
	tests := []struct {
		name   string
		body   map[string]any
		fields []string
	}{
		{"a right-to-left override in the file name", map[string]any{"filename": "x\u202egnp.exe"}, []string{"display_name", "filename"}},
		{"a zero-width space in the display name", map[string]any{"filename": "a.png", "display_name": "pay\u200bpal"}, []string{"display_name"}},
		{"a first-strong isolate in the display name", map[string]any{"filename": "a.png", "display_name": "a\u2068b"}, []string{"display_name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.body["content_type"], tt.body["size_bytes"] = "image/png", 10
			code, body := inst.rest(t, "POST", "/v1/uploads", tt.body)
			got := violatedFields(body)
			slices.Sort(got)
			if code != http.StatusBadRequest || !slices.Equal(got, tt.fields) {
				t.Fatalf("CreateUpload: %d %v, want 400 on %v", code, body, tt.fields)
			}
		})
	}
	code, created := inst.rest(t, "POST", "/v1/uploads", map[string]any{"filename": "a.png", "content_type": "image/png", "size_bytes": 10})
	if code != http.StatusOK {
		t.Fatalf("a plain name: %d %v", code, created)
	}
	id := str(created, "file.file_id")
	code, body := inst.rest(t, "PATCH", "/v1/files/"+id+"?update_mask=display_name", map[string]any{"display_name": "x\u202egnp.exe"})
	if code != http.StatusBadRequest || !slices.Equal(violatedFields(body), []string{"file.display_name"}) {
		t.Fatalf("UpdateFile to a spoofing name: %d %v, want 400 on file.display_name", code, body)
	}
	code, list := inst.rest(t, "GET", "/v1/files", nil)
	if files, _ := list["files"].([]any); code != http.StatusOK || len(files) != 1 || str(files[0], "display_name") != "a.png" {
		t.Fatalf("stored files: %d %v, want only a.png", code, list)
	}
}
