package events

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/presignd/presignd/store"
)

// NATSConfig configures NewNATS.
type NATSConfig struct {
	// URL of the NATS server(s), comma-separated ("nats://127.0.0.1:4222").
	URL string
	// Stream is the JetStream stream the events go to ("PRESIGND_EVENTS").
	// It is created when missing, over SubjectPrefix.>, with
	// DuplicateWindow; an existing stream is used as it is and must take
	// the subjects.
	Stream string
	// SubjectPrefix starts every subject ("presignd"): an event goes to
	// <prefix>.<tenant>.file.<ready|failed|expired|deleted|aborted>.
	SubjectPrefix string
	// DuplicateWindow is how long JetStream remembers message ids to drop
	// a re-sent event (10m), for a stream this creates.
	DuplicateWindow time.Duration
	// Render renders the event's file record (the CloudEvent's data).
	Render RenderFile
	// Name is the connection's name shown by the server ("presignd").
	Name string
}

// NATS publishes events to JetStream as CloudEvents 1.0 JSON (structured
// mode: the message's data is the whole event, Content-Type
// application/cloudevents+json), with the event id as the message id
// (Nats-Msg-Id), so that JetStream drops an event sent again within the
// stream's duplicate window. A publish delivers the event once the
// stream acknowledged it.
type NATS struct {
	cfg NATSConfig
	nc  *nats.Conn
	js  jetstream.JetStream

	mu      sync.Mutex
	ensured bool
}

// NewNATS connects to cfg.URL. A server that is not reachable yet is not
// an error: the connection keeps trying, and deliveries fail (and are
// retried) until it succeeds. Close closes the connection.
func NewNATS(cfg NATSConfig) (*NATS, error) {
	if cfg.URL == "" {
		return nil, errors.New("nats: no url")
	}
	if cfg.Render == nil {
		return nil, errors.New("nats: no file renderer")
	}
	if cfg.Stream == "" {
		cfg.Stream = "PRESIGND_EVENTS"
	}
	if cfg.SubjectPrefix == "" {
		cfg.SubjectPrefix = "presignd"
	}
	if err := ValidSubjectPrefix(cfg.SubjectPrefix); err != nil {
		return nil, err
	}
	if cfg.DuplicateWindow <= 0 {
		cfg.DuplicateWindow = 10 * time.Minute
	}
	if cfg.Name == "" {
		cfg.Name = "presignd"
	}
	nc, err := nats.Connect(cfg.URL, nats.Name(cfg.Name), nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("nats connect %s: %w", cfg.URL, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats jetstream: %w", err)
	}
	return &NATS{cfg: cfg, nc: nc, js: js}, nil
}

// ValidSubjectPrefix checks a subject prefix: dot-separated tokens of
// letters, digits, '-' and '_'.
func ValidSubjectPrefix(p string) error {
	for tok := range strings.SplitSeq(p, ".") {
		if tok == "" {
			return fmt.Errorf("nats subject prefix %q: empty token", p)
		}
		for _, r := range tok {
			if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				return fmt.Errorf("nats subject prefix %q: %q is not a letter, digit, '-' or '_'", p, r)
			}
		}
	}
	return nil
}

// Close closes the connection.
func (n *NATS) Close() { n.nc.Close() }

// Subject returns the subject of ev.
func (n *NATS) Subject(ev *store.Event) string {
	return Subject(n.cfg.SubjectPrefix, ev)
}

// Subject returns <prefix>.<tenant>.file.<type suffix> for ev (tenants
// are letters, digits, '-' and '_', safe in a subject; any other
// character is replaced by '_').
func Subject(prefix string, ev *store.Event) string {
	suffix := strings.TrimPrefix(ev.Type, "file.")
	return prefix + "." + subjectToken(ev.Tenant) + ".file." + subjectToken(suffix)
}

func subjectToken(s string) string {
	if s == "" {
		return "_"
	}
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, s)
}

// CloudEvent returns ev as a CloudEvents 1.0 JSON event: id the event
// id, source "presignd/<tenant>", type "presignd.<event type>"
// (presignd.file.ready, ...), subject the file id, time the event's, and
// data the file as the REST API shows it.
func CloudEvent(ev *store.Event, render RenderFile) ([]byte, error) {
	b := make([]byte, 0, 1024)
	b = append(b, `{"specversion":"1.0","id":`...)
	b = strconv.AppendQuote(b, ev.ID)
	b = append(b, `,"source":`...)
	b = strconv.AppendQuote(b, "presignd/"+ev.Tenant)
	b = append(b, `,"type":`...)
	b = strconv.AppendQuote(b, "presignd."+ev.Type)
	b = append(b, `,"subject":`...)
	b = strconv.AppendQuote(b, ev.FileID)
	b = append(b, `,"time":"`...)
	b = ev.CreatedAt.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","datacontenttype":"application/json","data":`...)
	return appendFileData(b, ev, render)
}

// ensure creates the stream when it is missing, once per connection.
func (n *NATS) ensure(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ensured {
		return nil
	}
	_, err := n.js.Stream(ctx, n.cfg.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = n.js.CreateStream(ctx, jetstream.StreamConfig{
			Name:        n.cfg.Stream,
			Description: "presignd file events (CloudEvents)",
			Subjects:    []string{n.cfg.SubjectPrefix + ".>"},
			Duplicates:  n.cfg.DuplicateWindow,
			Storage:     jetstream.FileStorage,
		})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			err = nil // another replica made it
		}
	}
	if err != nil {
		return fmt.Errorf("nats stream %s: %w", n.cfg.Stream, err)
	}
	n.ensured = true
	return nil
}

// Deliver implements Sink.
func (n *NATS) Deliver(ctx context.Context, ev *store.Event) error {
	if err := n.ensure(ctx); err != nil {
		return err
	}
	data, err := CloudEvent(ev, n.cfg.Render)
	if err != nil {
		return err
	}
	msg := nats.NewMsg(n.Subject(ev))
	msg.Data = data
	msg.Header.Set("Content-Type", "application/cloudevents+json")
	if _, err := n.js.PublishMsg(ctx, msg, jetstream.WithMsgID(ev.ID)); err != nil {
		return fmt.Errorf("nats publish %s: %w", msg.Subject, err)
	}
	return nil
}
