package events

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/presignd/presignd/store"
)

// RenderFile renders a file record as JSON, as the REST API shows it.
type RenderFile func(f *store.File) ([]byte, error)

// SecretPrefix starts a Standard Webhooks secret: "whsec_" and the key
// in standard base64.
const SecretPrefix = "whsec_"

// WebhookConfig configures NewWebhook.
type WebhookConfig struct {
	// URL receives a POST per event.
	URL string
	// Secret signs the requests: "whsec_<base64 key>" as the Standard
	// Webhooks specification writes secrets, or any other string, whose
	// bytes are the key (a receiver's library then takes
	// "whsec_" + base64(secret)). It must not be empty.
	Secret string
	// Render renders the event's file record.
	Render RenderFile
	// Client sends the requests; when nil, a client that does not follow
	// redirects (a redirect is a failure). The dispatcher bounds each
	// request by its Timeout.
	Client *http.Client
	// Now is the clock of the webhook-timestamp header; time.Now when nil.
	Now func() time.Time
}

// Webhook posts events to a URL, signed as the Standard Webhooks
// specification says (webhook-id: the event id, webhook-timestamp: the
// attempt's Unix time, webhook-signature: "v1,<base64 HMAC-SHA256 of
// id.timestamp.body>"). The body is the specification's payload:
//
//	{"type":"file.ready","timestamp":"<event time, RFC 3339>","data":<the file as the REST API shows it>}
//
// A 2xx answer delivers the event; any other answer, or none, is a
// failure to retry.
type Webhook struct {
	url    string
	signer *standardwebhooks.Webhook
	render RenderFile
	client *http.Client
	now    func() time.Time
}

var defaultClient = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// NewWebhook checks cfg and returns the sink.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	if cfg.URL == "" || !(strings.HasPrefix(cfg.URL, "http://") || strings.HasPrefix(cfg.URL, "https://")) {
		return nil, fmt.Errorf("webhook url %q: must be an http or https URL", cfg.URL)
	}
	if cfg.Render == nil {
		return nil, errors.New("webhook: no file renderer")
	}
	key, err := SecretKey(cfg.Secret)
	if err != nil {
		return nil, err
	}
	signer, err := standardwebhooks.NewWebhookRaw(key)
	if err != nil {
		return nil, fmt.Errorf("webhook secret: %w", err)
	}
	if cfg.Client == nil {
		cfg.Client = defaultClient
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Webhook{url: cfg.URL, signer: signer, render: cfg.Render, client: cfg.Client, now: cfg.Now}, nil
}

// SecretKey returns the HMAC key of a webhook secret (see
// WebhookConfig.Secret): the decoded base64 after "whsec_", or the
// string's bytes. An empty key, or bad base64 after the prefix, is an
// error.
func SecretKey(secret string) ([]byte, error) {
	if rest, ok := strings.CutPrefix(secret, SecretPrefix); ok {
		key, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return nil, fmt.Errorf("webhook secret: %q must be followed by standard base64: %w", SecretPrefix, err)
		}
		if len(key) == 0 {
			return nil, errors.New("webhook secret: empty key")
		}
		return key, nil
	}
	if secret == "" {
		return nil, errors.New("webhook secret: empty")
	}
	return []byte(secret), nil
}

// Payload returns the body posted for ev.
func Payload(ev *store.Event, render RenderFile) ([]byte, error) {
	b := make([]byte, 0, 1024)
	b = append(b, `{"type":`...)
	b = strconv.AppendQuote(b, ev.Type)
	b = append(b, `,"timestamp":"`...)
	b = ev.CreatedAt.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","data":`...)
	return appendFileData(b, ev, render)
}

// appendFileData appends the event's file as render shows it (null for
// an event without one) and the closing brace of the envelope.
func appendFileData(b []byte, ev *store.Event, render RenderFile) ([]byte, error) {
	if ev.File == nil {
		b = append(b, "null"...)
	} else {
		data, err := render(ev.File)
		if err != nil {
			return nil, fmt.Errorf("render file %s: %w", ev.FileID, err)
		}
		b = append(b, data...)
	}
	return append(b, '}'), nil
}

// Deliver implements Sink.
func (w *Webhook) Deliver(ctx context.Context, ev *store.Event) error {
	body, err := Payload(ev, w.render)
	if err != nil {
		return err
	}
	ts := w.now()
	sig, err := w.signer.Sign(ev.ID, ts, body)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "presignd-webhooks")
	req.Header.Set(standardwebhooks.HeaderWebhookID, ev.ID)
	req.Header.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(standardwebhooks.HeaderWebhookSignature, sig)
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook post: %w", err)
	}
	defer resp.Body.Close()
	// Read a little of the answer for the error, and drain a bounded
	// amount so the connection can be reused.
	head, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook answered %s: %q", resp.Status, strings.TrimSpace(string(head)))
	}
	return nil
}
