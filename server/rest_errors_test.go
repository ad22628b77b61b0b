package server

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
)

// TestRESTErrorsAreClear sends requests that go wrong over REST and checks
// each answer's status, message and body: the field's REST (proto) name,
// sizes in human units too, 405 with Allow for a wrong method, correct
// grammar, and no empty fields in the body.
func TestRESTErrorsAreClear(t *testing.T) {
	env := newTestEnv(t)
	for _, tc := range []struct {
		name, method, path, body string
		wantStatus               int
		wantAllow                string
		want                     []string // in the body
		notWant                  []string // anywhere in the body
	}{
		{
			name: "a body cut short says the JSON is incomplete", method: "POST", path: "/v1/uploads", body: `{"filename": "a.txt"`,
			wantStatus: 400, want: []string{"request body is not valid JSON: it ends before the JSON value is complete"},
			notWant: []string{`"message":"unexpected EOF"`},
		},
		{
			name: "a body that is not JSON names the position", method: "POST", path: "/v1/uploads", body: `nope`,
			wantStatus: 400, want: []string{"request body is not valid JSON", "at byte"},
		},
		{
			name: "a bad integer names the field by its proto name", method: "POST", path: "/v1/uploads", body: `{"filename": "a.txt", "size_bytes": "abc"}`,
			wantStatus: 400, want: []string{`size_bytes: \"abc\" is not a valid int64`, "line 1, column"},
			notWant: []string{"sizeBytes"},
		},
		{
			name: "a bad integer in a nested message names it by its proto name", method: "POST", path: "/v1/uploads",
			body:       `{"filename": "a.txt", "content_type": "text/plain", "size_bytes": 1, "checksum": {"algorithm": 42.5}}`,
			wantStatus: 400, want: []string{"algorithm"},
		},
		{
			name: "an unknown field is named", method: "POST", path: "/v1/uploads", body: `{"filename": "a.txt", "bogus": 1}`,
			wantStatus: 400, want: []string{`unknown field \"bogus\"`},
			notWant: []string{"did you mean"},
		},
		{
			name: "a misspelt field gets the field meant", method: "POST", path: "/v1/uploads", body: `{"filenme": "a.txt"}`,
			wantStatus: 400, want: []string{`unknown field \"filenme\"; did you mean \"filename\"?`},
		},
		{
			name: "a wrong method is 405 with Allow", method: "GET", path: "/v1/uploads",
			wantStatus: 405, wantAllow: "POST", want: []string{"method GET is not allowed on /v1/uploads; it takes POST"},
		},
		{
			name: "a wrong method on a file lists the methods it takes", method: "PUT", path: "/v1/files/abc",
			wantStatus: 405, wantAllow: "DELETE, GET, PATCH", want: []string{"it takes DELETE, GET, PATCH"},
		},
		{
			name: "an unknown path is 404", method: "GET", path: "/v1/nothing-here",
			wantStatus: 404,
		},
		{
			name: "one character, not one characters; no empty reason or localized_message", method: "POST", path: "/v1/uploads",
			body:       `{"filename": "", "content_type": "text/plain", "size_bytes": 1}`,
			wantStatus: 400, want: []string{`"field":"filename"`, "must be at least 1 character\""},
			notWant: []string{"1 characters", `"reason":""`, "localized_message"},
		},
		{
			name: "sizes are also in human units", method: "POST", path: "/v1/uploads",
			body:       `{"filename": "big.bin", "content_type": "text/plain", "size_bytes": 99999999999}`,
			wantStatus: 400, want: []string{"99999999999 bytes (93.1 GiB) is more than the 5368709120 bytes (5 GiB) allowed"},
		},
		{
			name: "a query parameter that does not parse names the parameter", method: "GET", path: "/v1/files?page_size=abc",
			wantStatus: 400, want: []string{`query parameter page_size: \"abc\" is not a valid whole number`},
			notWant: []string{"strconv"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			req, err := http.NewRequest(tc.method, env.restURL+tc.path, body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+env.keys["acme"])
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			got := string(raw)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.wantStatus, got)
			}
			if allow := resp.Header.Get("Allow"); allow != tc.wantAllow {
				t.Errorf("Allow = %q, want %q", allow, tc.wantAllow)
			}
			var asJSON map[string]any
			if err := json.Unmarshal(raw, &asJSON); err != nil {
				t.Errorf("body is not JSON: %v: %s", err, got)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("body lacks %q:\n%s", w, got)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(got, w) {
					t.Errorf("body has %q:\n%s", w, got)
				}
			}
		})
	}
}

func TestRootPointsToTheUIAndTheDocs(t *testing.T) {
	h := NewHTTPHandler(HTTPConfig{Gateway: http.NotFoundHandler()})
	for _, tc := range []struct {
		accept, wantType string
		want             []string
	}{
		{"application/json", "application/json", []string{`"upload_page":"/ui/"`, `"api_docs":"/docs"`}},
		{"", "application/json", []string{`"/ui/"`, `"/docs"`}},
		{"text/html,application/xhtml+xml", "text/html", []string{`href="/ui/"`, `href="/docs"`}},
	} {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Accept", tc.accept)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), tc.wantType) {
			t.Fatalf("GET / (Accept %q): %d %s", tc.accept, rec.Code, rec.Header().Get("Content-Type"))
		}
		for _, w := range tc.want {
			if !strings.Contains(rec.Body.String(), w) {
				t.Errorf("GET / (Accept %q) lacks %q:\n%s", tc.accept, w, rec.Body.String())
			}
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/nothing", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("GET /nothing: %d, want 404", rec.Code)
	}
}

// protojson puts a space or a no-break space after "proto:", chosen per
// binary; both read the same.
func TestDescribeBodyErrorReadsBothProtojsonPrefixes(t *testing.T) {
	msg := &presigndv1.CreateUploadRequest{}
	for _, sep := range []string{" ", "\u00a0"} {
		for _, tc := range []struct{ in, want string }{
			{"proto:" + sep + "(line 1:37): invalid value for int64 field sizeBytes: \"abc\"", `request body (line 1, column 37): size_bytes: "abc" is not a valid int64`},
			{"proto:" + sep + "(line 1:2): unknown field \"filenme\"", `request body (line 1, column 2): unknown field "filenme"; did you mean "filename"?`},
			{"proto:" + sep + "syntax error (line 1:5): unexpected token", `request body is not valid JSON for this call (line 1, column 5): unexpected token`},
		} {
			if got := describeBodyError(errors.New(tc.in), msg); !strings.HasPrefix(got, tc.want) {
				t.Errorf("describeBodyError(%q) = %q, want it to start with %q", tc.in, got, tc.want)
			}
		}
	}
}
