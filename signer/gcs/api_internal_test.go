package gcs

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"cloud.google.com/go/auth"
)

type fixedToken string

func (t fixedToken) Token(context.Context) (*auth.Token, error) {
	return &auth.Token{Value: string(t), Type: "Bearer"}, nil
}

// signBlob posts the payload to the IAM endpoint with the credentials'
// token and quota project, and returns the decoded signedBlob.
func TestSignBlobRequest(t *testing.T) {
	var got *http.Request
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Clone(context.Background())
		body, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"keyId":"k1","signedBlob":"`+base64.StdEncoding.EncodeToString([]byte("signature"))+`"}`)
	}))
	defer srv.Close()
	s := &Signer{
		client:       srv.Client(),
		iam:          srv.URL + "/v1/projects/-/serviceAccounts/",
		creds:        auth.NewCredentials(&auth.CredentialsOptions{TokenProvider: fixedToken("t0k")}),
		quotaProject: "billing-project",
	}
	sig, err := s.signBlob(t.Context(), "signer@p.iam.gserviceaccount.com", []byte("string\nto sign"))
	if err != nil {
		t.Fatal(err)
	}
	if string(sig) != "signature" {
		t.Errorf("signature %q, want the decoded signedBlob", sig)
	}
	if got.Method != http.MethodPost || got.URL.Path != "/v1/projects/-/serviceAccounts/signer@p.iam.gserviceaccount.com:signBlob" {
		t.Errorf("request %s %s", got.Method, got.URL.Path)
	}
	for name, want := range map[string]string{"Authorization": "Bearer t0k", "X-Goog-User-Project": "billing-project", "Content-Type": "application/json"} {
		if v := got.Header.Get(name); v != want {
			t.Errorf("%s: %q, want %q", name, v, want)
		}
	}
	var in struct{ Payload string }
	if err := json.Unmarshal(body, &in); err != nil || in.Payload != base64.StdEncoding.EncodeToString([]byte("string\nto sign")) {
		t.Errorf("body %s, want the payload in base64", body)
	}
}
