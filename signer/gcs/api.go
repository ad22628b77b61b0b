package gcs

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	// maxAttempts bounds the tries of one JSON API or signBlob call.
	maxAttempts = 4
	// firstBackoff is the wait before the second try; it doubles after.
	firstBackoff = 100 * time.Millisecond
	// maxResponse bounds what is read of a response body.
	maxResponse = 1 << 20
)

// apiError is a JSON API or IAM answer that is not a success.
type apiError struct {
	status  int
	message string
}

func (e *apiError) Error() string {
	s := strconv.Itoa(e.status) + " " + http.StatusText(e.status)
	if e.message != "" {
		s += ": " + e.message
	}
	return s
}

// newAPIError reads the message of a Google API error body
// ({"error": {"message": ...}}), or keeps the start of another body.
func newAPIError(status int, body []byte) error {
	var doc struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	msg := ""
	if json.Unmarshal(body, &doc) == nil && doc.Error.Message != "" {
		msg = doc.Error.Message
	} else {
		msg = strings.TrimSpace(string(body))
		if len(msg) > 200 {
			msg = msg[:200] + "..."
		}
	}
	return &apiError{status: status, message: msg}
}

// retryable reports whether a try that ended with status or err may be
// made again: a transport failure other than the context's end, or an
// answer GCS documents as transient.
func retryable(ctx context.Context, status int, err error) bool {
	if err != nil {
		var ae *authError
		return ctx.Err() == nil && !errors.As(err, &ae)
	}
	switch status {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// roundTrip makes a JSON API or IAM call with an optional JSON body,
// authenticated with the credentials' token, trying again with backoff
// while it fails transiently (up to maxAttempts tries, while ctx allows),
// and returns the last answer's status and body.
func (s *Signer) roundTrip(ctx context.Context, method, u string, body []byte) (int, []byte, error) {
	return s.retrying(ctx, &call{method: method, url: u, body: body, json: true, auth: true, limit: maxResponse})
}

// call is one HTTP request the Signer makes.
type call struct {
	method, url string
	body        []byte
	// json sends body as application/json.
	json bool
	// header is sent as it is.
	header http.Header
	// auth adds the credentials' token (and quota project); a call to a
	// signed URL carries its authentication in the URL and must not.
	auth bool
	// limit bounds what is read of the response body.
	limit int64
}

// retrying makes c, trying again with backoff while it fails transiently
// (up to maxAttempts tries, while ctx allows), and returns the last
// answer's status and body.
func (s *Signer) retrying(ctx context.Context, c *call) (int, []byte, error) {
	wait := firstBackoff
	for attempt := 1; ; attempt++ {
		status, data, err := s.try(ctx, c)
		if attempt == maxAttempts || !retryable(ctx, status, err) {
			return status, data, err
		}
		// Full jitter over [wait/2, wait).
		d := wait/2 + rand.N(wait/2)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			if err == nil {
				err = newAPIError(status, data)
			}
			return 0, nil, fmt.Errorf("%w (after %v)", ctx.Err(), err)
		case <-t.C:
		}
		wait *= 2
	}
}

// authError is a failure to get a token for a call; it is not retried
// here, as the credentials retry their own token requests.
type authError struct{ err error }

func (e *authError) Error() string { return "token: " + e.err.Error() }
func (e *authError) Unwrap() error { return e.err }

// try makes one call.
func (s *Signer) try(ctx context.Context, c *call) (int, []byte, error) {
	var rd io.Reader
	if c.body != nil {
		rd = bytes.NewReader(c.body)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, c.url, rd)
	if err != nil {
		return 0, nil, err
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	if c.body != nil && c.json {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.auth {
		if err := s.authorize(ctx, req); err != nil {
			return 0, nil, err
		}
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.limit))
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, data, nil
}

// authorize adds the credentials' token (and quota project) to req, when
// the Signer has credentials.
func (s *Signer) authorize(ctx context.Context, req *http.Request) error {
	if s.creds == nil {
		return nil
	}
	tok, err := s.creds.Token(ctx)
	if err != nil {
		return &authError{err}
	}
	typ := tok.Type
	if typ == "" {
		typ = "Bearer"
	}
	req.Header.Set("Authorization", typ+" "+tok.Value)
	if s.quotaProject != "" {
		req.Header.Set("X-Goog-User-Project", s.quotaProject)
	}
	return nil
}

// signBlob signs payload as account with the IAM Credentials API, which
// signs with one of the account's Google-managed keys:
// RSASSA-PKCS1-v1_5 over SHA-256.
func (s *Signer) signBlob(ctx context.Context, account string, payload []byte) ([]byte, error) {
	body, err := json.Marshal(struct {
		Payload string `json:"payload"`
	}{base64.StdEncoding.EncodeToString(payload)})
	if err != nil {
		return nil, err
	}
	status, data, err := s.roundTrip(ctx, http.MethodPost, s.iam+url.PathEscape(account)+":signBlob", body)
	if err == nil && status != http.StatusOK {
		err = newAPIError(status, data)
	}
	if err != nil {
		return nil, fmt.Errorf("IAM signBlob as %s: %w", account, err)
	}
	var out struct {
		KeyID      string `json:"keyId"`
		SignedBlob string `json:"signedBlob"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("IAM signBlob as %s: response: %w", account, err)
	}
	sig, err := base64.StdEncoding.DecodeString(out.SignedBlob)
	if err != nil || len(sig) == 0 {
		return nil, fmt.Errorf("IAM signBlob as %s: response has no signedBlob in base64", account)
	}
	return sig, nil
}
