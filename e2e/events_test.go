package e2e

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/presignd/presignd/internal/testenv"
)

// The secret of the test webhooks, as Standard Webhooks writes secrets,
// and its key.
var (
	webhookKey    = []byte("e2e webhook signing key, 32 byte")
	webhookSecret = "whsec_" + base64.StdEncoding.EncodeToString(webhookKey)
)

// verifyStandardWebhook checks a delivery as the Standard Webhooks
// specification says a receiver does: HMAC-SHA256 with the key over
// "<webhook-id>.<webhook-timestamp>.<body>", base64, one of the
// space-separated "v1,<signature>" of webhook-signature, and a timestamp
// within five minutes.
func verifyStandardWebhook(key []byte, h http.Header, body []byte) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return fmt.Errorf("missing headers: id %q, timestamp %q, signature %q", id, ts, sigs)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("webhook-timestamp %q: %v", ts, err)
	}
	if d := time.Since(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("webhook-timestamp %s off by %s", ts, d)
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.", id, ts)
	mac.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for s := range strings.SplitSeq(sigs, " ") {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return fmt.Errorf("no signature of %q matches", sigs)
}

// hook is one request a test receiver got.
type hook struct {
	at     time.Time
	header http.Header
	body   []byte
}

// webhookReceiver records the requests it gets and answers each with
// status(n), n counting from 1; status may block.
type webhookReceiver struct {
	*httptest.Server
	mu  sync.Mutex
	got []hook
}

func newWebhookReceiver(t *testing.T, status func(n int) int) *webhookReceiver {
	rx := &webhookReceiver{}
	rx.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rx.mu.Lock()
		rx.got = append(rx.got, hook{time.Now(), r.Header.Clone(), body})
		n := len(rx.got)
		rx.mu.Unlock()
		w.WriteHeader(status(n))
	}))
	t.Cleanup(rx.Close)
	return rx
}

func (rx *webhookReceiver) hooks() []hook {
	rx.mu.Lock()
	defer rx.mu.Unlock()
	return append([]hook(nil), rx.got...)
}

// eventsConfig is a configuration with events on and one webhook to url.
func eventsConfig(url, extra string) string {
	return fmt.Sprintf(`events:
  enabled: true
  interval: 20ms
  timeout: 2s
  retry: {initial: 100ms, max: 300ms, give_up_after: 1h}
  webhooks:
  - {name: rx, url: %q, secret: %q}
%s`, url, webhookSecret, extra)
}

// uploadAndComplete uploads body as a new file over REST and completes
// it; it returns the file id and when CompleteUpload answered.
func uploadAndComplete(t *testing.T, inst *instance, name string, body []byte) (string, time.Time) {
	t.Helper()
	code, created := inst.rest(t, http.MethodPost, "/v1/uploads", map[string]any{
		"filename": name, "content_type": "text/plain", "size_bytes": len(body),
	})
	if code != http.StatusOK {
		t.Fatalf("CreateUpload: %d %v", code, created)
	}
	if code := upload(t, targetFromJSON(t, field(created, "upload_target")), body); code/100 != 2 {
		t.Fatalf("upload: %d", code)
	}
	id := str(created, "file.file_id")
	code, done := inst.rest(t, http.MethodPost, "/v1/files/"+id+":complete", nil)
	if code != http.StatusOK || str(done, "file.state") != "FILE_STATE_READY" {
		t.Fatalf("CompleteUpload: %d %v", code, done)
	}
	return id, time.Now()
}

func TestWebhookEvents(t *testing.T) {
	t.Run("a file.ready signed as Standard Webhooks says arrives within 2s of CompleteUpload, and the body is the file as REST shows it", func(t *testing.T) {
		rx := newWebhookReceiver(t, func(int) int { return http.StatusNoContent })
		inst := start(t, "--config", writeConfig(t, eventsConfig(rx.URL, "")))
		id, completed := uploadAndComplete(t, inst, "ready.txt", []byte("ready\n"))
		eventually(t, 10*time.Second, func() (bool, string) {
			return len(rx.hooks()) > 0, "no webhook yet"
		})
		h := rx.hooks()[0]
		if lag := h.at.Sub(completed); lag > 2*time.Second {
			t.Errorf("the webhook arrived %s after CompleteUpload answered, want within 2s", lag)
		}
		if err := verifyStandardWebhook(webhookKey, h.header, h.body); err != nil {
			t.Errorf("the specification's algorithm refuses the signature: %v", err)
		}
		if err := verifyStandardWebhook([]byte("not the webhook's secret, 32 byt"), h.header, h.body); err == nil {
			t.Error("a wrong secret verifies the signature")
		}
		var payload struct {
			Type      string         `json:"type"`
			Timestamp time.Time      `json:"timestamp"`
			Data      map[string]any `json:"data"`
		}
		if err := json.Unmarshal(h.body, &payload); err != nil {
			t.Fatalf("body %s: %v", h.body, err)
		}
		if payload.Type != "file.ready" || payload.Timestamp.IsZero() {
			t.Errorf("type %q, timestamp %v; want file.ready and the event's time", payload.Type, payload.Timestamp)
		}
		code, got := inst.rest(t, http.MethodGet, "/v1/files/"+id, nil)
		if code != http.StatusOK {
			t.Fatalf("GetFile: %d %v", code, got)
		}
		want, _ := json.Marshal(got["file"])
		have, _ := json.Marshal(payload.Data)
		if string(want) != string(have) {
			t.Errorf("data is not the file as GET /v1/files/{id} shows it:\n data %s\n file %s", have, want)
		}
		if id := h.header.Get("webhook-id"); id == "" || len(rx.hooks()) != 1 {
			t.Errorf("webhook-id %q, %d requests", id, len(rx.hooks()))
		}
	})

	t.Run("a receiver answering 500 three times then 200 sees one webhook-id four times, and the event is delivered once", func(t *testing.T) {
		rx := newWebhookReceiver(t, func(n int) int {
			if n <= 3 {
				return http.StatusInternalServerError
			}
			return http.StatusOK
		})
		inst := start(t, "--config", writeConfig(t, eventsConfig(rx.URL, "")))
		uploadAndComplete(t, inst, "flaky.txt", []byte("flaky\n"))
		eventually(t, 20*time.Second, func() (bool, string) {
			return inst.metric(t, `presignd_events_delivered_total{sink="webhook:rx"}`) == 1,
				fmt.Sprintf("%d requests so far", len(rx.hooks()))
		})
		if n := inst.metric(t, `presignd_events_retried_total{sink="webhook:rx"}`); n != 3 {
			t.Errorf("retried_total = %v, want 3", n)
		}
		inst.stop(t) // nothing more can be sent
		hs := rx.hooks()
		if len(hs) != 4 {
			t.Fatalf("the receiver got %d requests, want 4", len(hs))
		}
		for i, h := range hs {
			if id := h.header.Get("webhook-id"); id != hs[0].header.Get("webhook-id") || id == "" {
				t.Errorf("request %d has webhook-id %q, want %q like the first", i+1, id, hs[0].header.Get("webhook-id"))
			}
			if err := verifyStandardWebhook(webhookKey, h.header, h.body); err != nil {
				t.Errorf("request %d: %v", i+1, err)
			}
		}
	})

	t.Run("presignd killed with -9 while a delivery is in flight delivers it after the restart", func(t *testing.T) {
		release := make(chan struct{})
		var once sync.Once
		first := make(chan struct{})
		rx := newWebhookReceiver(t, func(n int) int {
			if n == 1 {
				once.Do(func() { close(first) })
				<-release // the sender dies waiting
				return http.StatusOK
			}
			return http.StatusOK
		})
		releaseOnce := sync.OnceFunc(func() { close(release) })
		t.Cleanup(releaseOnce) // before the receiver closes, which waits for its handlers
		cfg := writeConfig(t, eventsConfig(rx.URL, ""))
		inst := start(t, "--config", cfg)
		uploadAndComplete(t, inst, "crash.txt", []byte("crash\n"))
		select {
		case <-first:
		case <-time.After(10 * time.Second):
			t.Fatal("no delivery attempt within 10s")
		}
		if err := inst.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = inst.cmd.Wait()
		releaseOnce()
		again := start(t, "--config", cfg, "--data-dir", inst.DataDir)
		eventually(t, 20*time.Second, func() (bool, string) {
			return again.metric(t, `presignd_events_delivered_total{sink="webhook:rx"}`) == 1,
				fmt.Sprintf("%d requests so far", len(rx.hooks()))
		})
		hs := rx.hooks()
		if len(hs) != 2 || hs[0].header.Get("webhook-id") != hs[1].header.Get("webhook-id") {
			t.Errorf("%d requests, want the in-flight one and the same event again after the restart", len(hs))
		}
		if err := verifyStandardWebhook(webhookKey, hs[len(hs)-1].header, hs[len(hs)-1].body); err != nil {
			t.Error(err)
		}
	})

	t.Run("a delivery given up is a dead letter an admin lists and redelivers", func(t *testing.T) {
		var mu sync.Mutex
		up := false
		rx := newWebhookReceiver(t, func(int) int {
			mu.Lock()
			defer mu.Unlock()
			if up {
				return http.StatusOK
			}
			return http.StatusServiceUnavailable
		})
		cfg := strings.Replace(eventsConfig(rx.URL, ""), "give_up_after: 1h", "give_up_after: 1s", 1)
		inst := start(t, "--config", writeConfig(t, cfg))
		id, _ := uploadAndComplete(t, inst, "dead.txt", []byte("dead\n"))
		var list map[string]any
		eventually(t, 20*time.Second, func() (bool, string) {
			var code int
			code, list = inst.rest(t, http.MethodGet, "/v1/admin/deadLetters", nil)
			dl, _ := list["dead_letters"].([]any)
			return code == http.StatusOK && len(dl) == 1, fmt.Sprintf("%d %v", code, list)
		})
		dl := list["dead_letters"].([]any)[0]
		if str(dl, "file_id") != id || str(dl, "event_type") != "file.ready" || str(dl, "sink") != "webhook:rx" ||
			!strings.Contains(str(dl, "last_error"), "503") {
			t.Errorf("dead letter %v", dl)
		}
		if n := inst.metric(t, `presignd_events_dead_total{sink="webhook:rx"}`); n != 1 {
			t.Errorf("dead_total = %v, want 1", n)
		}
		mu.Lock()
		up = true
		mu.Unlock()
		code, body := inst.rest(t, http.MethodPost, "/v1/admin/deadLetters/"+str(dl, "delivery_id")+":redeliver", map[string]any{})
		if code != http.StatusOK {
			t.Fatalf("redeliver: %d %v", code, body)
		}
		eventually(t, 20*time.Second, func() (bool, string) {
			return inst.metric(t, `presignd_events_delivered_total{sink="webhook:rx"}`) == 1, "not delivered yet"
		})
		last := rx.hooks()[len(rx.hooks())-1]
		if err := verifyStandardWebhook(webhookKey, last.header, last.body); err != nil || last.header.Get("webhook-id") != str(dl, "event_id") {
			t.Errorf("the redelivery: %v, webhook-id %q, want %q", err, last.header.Get("webhook-id"), str(dl, "event_id"))
		}
		for _, c := range []struct{ path, want string }{
			{"/v1/admin/deadLetters/notanumber:redeliver", "400"},
			{"/v1/admin/deadLetters/999999:redeliver", "404"},
		} {
			if code, body := inst.rest(t, http.MethodPost, c.path, map[string]any{}); strconv.Itoa(code) != c.want {
				t.Errorf("POST %s: %d %v, want %s", c.path, code, body, c.want)
			}
		}
	})

	t.Run("config check names a webhook secret_env variable that is unset", func(t *testing.T) {
		cfg := writeConfig(t, "events:\n  enabled: true\n  webhooks:\n  - {name: rx, url: 'http://127.0.0.1:1/', secret_env: PRESIGND_E2E_UNSET_SECRET}\n")
		out, err := runBinary(t, "config", "check", cfg)
		if err == nil || !strings.Contains(out, "events.webhooks[0].secret_env (PRESIGND_E2E_UNSET_SECRET): the variable is not set or empty") {
			t.Errorf("config check: %v\n%s", err, out)
		}
	})
}

// natsURLForTest is the JetStream server of the NATS tests.
func natsURLForTest(t *testing.T) string {
	return testenv.Get(t, "PRESIGND_TEST_NATS_URL", "set it to a NATS server with JetStream (nats-server -js), e.g. nats://127.0.0.1:4222")
}

// TestNATSEventsExactlyOnceAcrossARestart: 1,000 uploads with presignd
// killed (-9) and restarted in the middle; a JetStream consumer sees
// each file's file.ready exactly once (a re-sent event carries the same
// Nats-Msg-Id, which the stream drops).
func TestNATSEventsExactlyOnceAcrossARestart(t *testing.T) {
	url := natsURLForTest(t)
	const files, workers = 1000, 8
	stream := fmt.Sprintf("PRESIGND_E2E_%d", time.Now().UnixNano())
	prefix := strings.ToLower(stream)
	cfg := writeConfig(t, fmt.Sprintf(`log: {level: warn}
events:
  enabled: true
  interval: 20ms
  timeout: 1s
  retry: {initial: 100ms, max: 1s, give_up_after: 1h}
  nats: {url: %q, stream: %q, subject_prefix: %q}
`, url, stream, prefix))
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = js.DeleteStream(context.Background(), stream) })

	var (
		mu  sync.Mutex
		ids = map[string]bool{}
	)
	uploadMany := func(inst *instance, n int, tag string) {
		var wg sync.WaitGroup
		next := make(chan int)
		// A worker that fails the test (t.Fatal ends only its goroutine)
		// stops the others, so that the feeding loop does not block.
		abort := make(chan struct{})
		stop := sync.OnceFunc(func() { close(abort) })
		for range workers {
			wg.Go(func() {
				defer func() {
					if t.Failed() {
						stop()
					}
				}()
				for i := range next {
					id, _ := uploadAndComplete(t, inst, fmt.Sprintf("%s-%d.txt", tag, i), []byte(fmt.Sprintf("file %s %d\n", tag, i)))
					mu.Lock()
					ids[id] = true
					mu.Unlock()
				}
			})
		}
	feed:
		for i := range n {
			select {
			case next <- i:
			case <-abort:
				break feed
			}
		}
		close(next)
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
	}
	inst := start(t, "--config", cfg)
	uploadMany(inst, files/2, "before")
	if err := inst.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = inst.cmd.Wait()
	again := start(t, "--config", cfg, "--data-dir", inst.DataDir)
	uploadMany(again, files/2, "after")
	if len(ids) != files {
		t.Fatalf("%d files uploaded, want %d", len(ids), files)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	seen := map[string]int{}
	eventually(t, 60*time.Second, func() (bool, string) {
		st, err := js.Stream(ctx, stream)
		if err != nil {
			return false, err.Error()
		}
		info, err := st.Info(ctx)
		if err != nil {
			return false, err.Error()
		}
		return info.State.Msgs >= files, fmt.Sprintf("%d messages in the stream", info.State.Msgs)
	})
	// Give a redelivery racing the check time to land, then read all.
	eventually(t, 60*time.Second, func() (bool, string) {
		return again.metric(t, "presignd_events_backlog{kind=\"pending\"}") == 0 &&
			again.metric(t, "presignd_events_backlog{kind=\"unrouted\"}") == 0, "deliveries pending"
	})
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{prefix + ".*.file.ready"}})
	if err != nil {
		t.Fatal(err)
	}
	for {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			var ce struct {
				ID      string `json:"id"`
				Type    string `json:"type"`
				Subject string `json:"subject"`
			}
			if err := json.Unmarshal(msg.Data(), &ce); err != nil {
				t.Fatalf("message %s: %v", msg.Data(), err)
			}
			if ce.Type != "presignd.file.ready" || msg.Headers().Get(jetstream.MsgIDHeader) != ce.ID {
				t.Errorf("CloudEvent type %q id %q with Nats-Msg-Id %q", ce.Type, ce.ID, msg.Headers().Get(jetstream.MsgIDHeader))
			}
			seen[ce.Subject]++
		}
		if batch.Error() != nil {
			t.Fatal(batch.Error())
		}
		if n == 0 {
			break
		}
	}
	var dup, missing []string
	for id := range ids {
		switch seen[id] {
		case 1:
		case 0:
			missing = append(missing, id)
		default:
			dup = append(dup, id)
		}
	}
	if len(seen) != files || len(dup) > 0 || len(missing) > 0 {
		t.Errorf("file.ready for %d files (want %d): %d seen more than once (%.5q), %d never (%.5q)", len(seen), files, len(dup), dup, len(missing), missing)
	}
	t.Logf("%d file.ready events, each once, across a kill -9 and restart; redelivered after the restart: %v",
		len(seen), again.metric(t, `presignd_events_delivered_total{sink="nats"}`))
}

// TestWebhookEventsSharedByPostgresReplicas: two replicas on one
// PostgreSQL schema both run the dispatcher; every event reaches the
// receiver once, whichever replica claimed it.
func TestWebhookEventsSharedByPostgresReplicas(t *testing.T) {
	const files = 100
	rx := newWebhookReceiver(t, func(int) int { return http.StatusOK })
	cfg, _, _ := postgresReplicas(t, "sweeper: {interval: 0s}\n"+eventsConfig(rx.URL, ""))
	a := start(t, "--config", cfg)
	b := start(t, "--config", cfg)
	ids := map[string]bool{}
	for i := range files {
		inst := a
		if i%2 == 1 {
			inst = b
		}
		id, _ := uploadAndComplete(t, inst, fmt.Sprintf("r%d.txt", i), []byte("replicated\n"))
		ids[id] = true
	}
	delivered := func() float64 {
		return a.metric(t, `presignd_events_delivered_total{sink="webhook:rx"}`) + b.metric(t, `presignd_events_delivered_total{sink="webhook:rx"}`)
	}
	eventually(t, 30*time.Second, func() (bool, string) {
		return delivered() == files, fmt.Sprintf("%v delivered, %d requests", delivered(), len(rx.hooks()))
	})
	fromA := a.metric(t, `presignd_events_delivered_total{sink="webhook:rx"}`)
	a.stop(t)
	b.stop(t)
	seen := map[string]int{}
	for _, h := range rx.hooks() {
		if err := verifyStandardWebhook(webhookKey, h.header, h.body); err != nil {
			t.Error(err)
		}
		var p struct {
			Data struct {
				FileID string `json:"file_id"`
			} `json:"data"`
		}
		if err := json.Unmarshal(h.body, &p); err != nil {
			t.Fatal(err)
		}
		seen[p.Data.FileID]++
	}
	for id := range ids {
		if seen[id] != 1 {
			t.Errorf("file %s: %d webhooks, want 1", id, seen[id])
		}
	}
	if len(rx.hooks()) != files {
		t.Errorf("%d webhooks for %d files", len(rx.hooks()), files)
	}
	t.Logf("replica A delivered %v, replica B %v", fromA, files-fromA)
}
