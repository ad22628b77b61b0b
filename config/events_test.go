package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestEventsDefaults(t *testing.T) {
	c, err := Parse([]byte("events:\n  enabled: true\n  nats: {url: nats://127.0.0.1:4222}\n"))
	if err != nil {
		t.Fatal(err)
	}
	e := c.Events
	if !e.Enabled || e.Workers != 4 || e.Batch != 100 || time.Duration(e.Interval) != 250*time.Millisecond ||
		time.Duration(e.Timeout) != 10*time.Second || time.Duration(e.Keep) != 168*time.Hour {
		t.Errorf("events = %+v", e)
	}
	if r := e.Retry; time.Duration(r.Initial) != 5*time.Second || time.Duration(r.Max) != time.Hour || time.Duration(r.GiveUpAfter) != 72*time.Hour {
		t.Errorf("retry = %+v", r)
	}
	if e.NATS.Stream != "PRESIGND_EVENTS" || e.NATS.SubjectPrefix != "presignd" {
		t.Errorf("nats = %+v", e.NATS)
	}
}

func TestEventsProblemsNameTheirKey(t *testing.T) {
	for _, c := range []struct {
		name, yaml, key, msg string
	}{
		{"a webhook needs a secret", "events:\n  webhooks:\n  - {name: a, url: 'http://x/h'}\n", "events.webhooks[0].secret", "is required"},
		{"a webhook takes secret or secret_env, not both", "events:\n  webhooks:\n  - {name: a, url: 'http://x/h', secret: 0123456789abcdef, secret_env: X}\n", "events.webhooks[0].secret", "not both"},
		{"a short secret is refused", "events:\n  webhooks:\n  - {name: a, url: 'http://x/h', secret: short}\n", "events.webhooks[0].secret", "at least 16 bytes"},
		{"a whsec_ secret must be base64", "events:\n  webhooks:\n  - {name: a, url: 'http://x/h', secret: 'whsec_%%%'}\n", "events.webhooks[0].secret", "base64"},
		{"a webhook URL must be http(s)", "events:\n  webhooks:\n  - {name: a, url: 'ftp://x/h', secret: 0123456789abcdef}\n", "events.webhooks[0].url", "not an http or https URL"},
		{"webhook names are unique", "events:\n  webhooks:\n  - {name: a, url: 'http://x/h', secret: 0123456789abcdef}\n  - {name: a, url: 'http://x/i', secret: 0123456789abcdef}\n", "events.webhooks[1].name", "another webhook"},
		{"a type must be an event type", "events:\n  webhooks:\n  - {name: a, url: 'http://x/h', secret: 0123456789abcdef, types: [file.readdy]}\n", "events.webhooks[0].types[0]", "file.ready"},
		{"a category must be configured", "events:\n  webhooks:\n  - {name: a, url: 'http://x/h', secret: 0123456789abcdef, categories: [nope]}\n", "events.webhooks[0].categories[0]", "no configured category"},
		{"a tenant must be a tenant name", "events:\n  webhooks:\n  - {name: a, url: 'http://x/h', secret: 0123456789abcdef, tenants: ['a b']}\n", "events.webhooks[0].tenants[0]", "not a tenant"},
		{"the NATS URL must be a nats URL", "events:\n  nats: {url: 'http://x'}\n", "events.nats.url", "nats://"},
		{"the subject prefix must be subject tokens", "events:\n  nats: {url: 'nats://x:4222', subject_prefix: 'a.>'}\n", "events.nats.subject_prefix", "dot-separated"},
		{"retry.max must reach retry.initial", "events:\n  retry: {initial: 1m, max: 1s}\n", "events.retry.max", "at least retry.initial"},
		{"workers are bounded", "events:\n  workers: 1000\n", "events.workers", "between 1 and 256"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.yaml))
			var probs Problems
			if !errors.As(err, &probs) {
				t.Fatalf("Parse = %v, want Problems", err)
			}
			for _, p := range probs {
				if p.Key == c.key && strings.Contains(p.Message, c.msg) {
					return
				}
			}
			t.Errorf("problems %v, want %s: ...%s...", probs, c.key, c.msg)
		})
	}
}

func TestWebhookSecretsReadsSecretEnv(t *testing.T) {
	c, err := Parse([]byte("events:\n  webhooks:\n  - {name: a, url: 'http://x/h', secret_env: HOOK_A}\n  - {name: b, url: 'http://x/h', secret: 0123456789abcdef}\n"))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HOOK_A": "whsec_MDEyMzQ1Njc4OWFiY2RlZg=="}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	got, err := c.Events.WebhookSecrets(lookup)
	if err != nil {
		t.Fatal(err)
	}
	if got["a"] != env["HOOK_A"] || got["b"] != "0123456789abcdef" {
		t.Errorf("secrets = %v", got)
	}
	delete(env, "HOOK_A")
	_, err = c.Events.WebhookSecrets(lookup)
	if err == nil || !strings.Contains(err.Error(), "events.webhooks[0].secret_env (HOOK_A): the variable is not set or empty") {
		t.Errorf("with the variable unset: %v", err)
	}
}
