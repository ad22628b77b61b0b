package events

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/presignd/presignd/internal/testenv"
	"github.com/presignd/presignd/store"
)

// natsURL is the JetStream-enabled NATS server of the integration tests.
func natsURL(t *testing.T) string {
	return testenv.Get(t, "PRESIGND_TEST_NATS_URL",
		"set it to a NATS server with JetStream (nats-server -js; e.g. nats://127.0.0.1:4222)")
}

func TestSubjectNamesTheTenantAndTheEventType(t *testing.T) {
	for _, c := range []struct{ tenant, typ, want string }{
		{"acme", store.EventFileReady, "presignd.acme.file.ready"},
		{"a_b-c", store.EventFileDeleted, "presignd.a_b-c.file.deleted"},
		{"odd.tenant*", store.EventFileFailed, "presignd.odd_tenant_.file.failed"},
		{"", store.EventFileExpired, "presignd._.file.expired"},
	} {
		t.Run(c.want, func(t *testing.T) {
			if got := Subject("presignd", &store.Event{Tenant: c.tenant, Type: c.typ}); got != c.want {
				t.Errorf("Subject = %q, want %q", got, c.want)
			}
		})
	}
}

func TestValidSubjectPrefix(t *testing.T) {
	for p, ok := range map[string]bool{"presignd": true, "org.presignd-1": true, "": false, "a..b": false, "a.>": false, "a b": false, "a*": false} {
		if err := ValidSubjectPrefix(p); (err == nil) != ok {
			t.Errorf("ValidSubjectPrefix(%q) = %v", p, err)
		}
	}
}

// A re-sent event (a delivery retried after JetStream took it) is
// dropped by the stream: a consumer sees each event once, as a
// CloudEvent with the event id.
func TestNATSPublishesCloudEventsThatJetStreamDeduplicates(t *testing.T) {
	url := natsURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream := fmt.Sprintf("PRESIGND_TEST_%d", time.Now().UnixNano())
	prefix := strings.ToLower(stream)
	sink, err := NewNATS(NATSConfig{URL: url, Stream: stream, SubjectPrefix: prefix, Render: renderTest})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
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

	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	evs := []*store.Event{
		{ID: "0194c1d2-0000-7000-8000-000000000001", Type: store.EventFileReady, Tenant: "acme", FileID: "f1", CreatedAt: at, File: &store.File{ID: "f1", Tenant: "acme"}},
		{ID: "0194c1d2-0000-7000-8000-000000000002", Type: store.EventFileDeleted, Tenant: "other", FileID: "f2", CreatedAt: at, File: &store.File{ID: "f2", Tenant: "other"}},
	}
	for range 3 { // each event sent three times
		for _, ev := range evs {
			if err := sink.Deliver(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
	}
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("the sink did not create its stream: %v", err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Duplicates != 10*time.Minute {
		t.Errorf("stream duplicate window %s, want 10m", info.Config.Duplicates)
	}
	if info.State.Msgs != 2 {
		t.Errorf("stream holds %d messages, want 2 (re-sent events dropped)", info.State.Msgs)
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for i, ev := range evs {
		msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if want := prefix + "." + ev.Tenant + ".file." + strings.TrimPrefix(ev.Type, "file."); msg.Subject() != want {
			t.Errorf("subject %q, want %q", msg.Subject(), want)
		}
		if id := msg.Headers().Get(jetstream.MsgIDHeader); id != ev.ID {
			t.Errorf("Nats-Msg-Id %q, want %q", id, ev.ID)
		}
		if ct := msg.Headers().Get("Content-Type"); ct != "application/cloudevents+json" {
			t.Errorf("Content-Type %q", ct)
		}
		var ce struct {
			SpecVersion     string            `json:"specversion"`
			ID              string            `json:"id"`
			Source          string            `json:"source"`
			Type            string            `json:"type"`
			Subject         string            `json:"subject"`
			Time            time.Time         `json:"time"`
			DataContentType string            `json:"datacontenttype"`
			Data            map[string]string `json:"data"`
		}
		if err := json.Unmarshal(msg.Data(), &ce); err != nil {
			t.Fatalf("data %s: %v", msg.Data(), err)
		}
		if ce.SpecVersion != "1.0" || ce.ID != ev.ID || ce.Source != "presignd/"+ev.Tenant || ce.Type != "presignd."+ev.Type ||
			ce.Subject != ev.FileID || !ce.Time.Equal(at) || ce.DataContentType != "application/json" || ce.Data["file_id"] != ev.FileID {
			t.Errorf("CloudEvent %s", msg.Data())
		}
	}
}

func TestNATSDeliveryFailsWhileTheServerIsUnreachable(t *testing.T) {
	sink, err := NewNATS(NATSConfig{URL: "nats://127.0.0.1:1", Render: renderTest})
	if err != nil {
		t.Fatalf("an unreachable server at start is not an error: %v", err)
	}
	defer sink.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := sink.Deliver(ctx, &store.Event{ID: "e1", Type: store.EventFileReady, Tenant: "acme", File: &store.File{}}); err == nil {
		t.Error("delivered to an unreachable server")
	}
}
