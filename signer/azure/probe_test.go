package azure

import (
	"slices"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
)

func TestPing(t *testing.T) {
	s := newServerSigner(t, nil)
	t.Run("a reachable container answers with Azure's time", func(t *testing.T) {
		got, err := s.Ping(t.Context())
		if err != nil {
			t.Fatalf("Ping: %v", err)
		}
		if d := time.Since(got); d > time.Hour || d < -time.Hour {
			t.Errorf("Ping time %v is not about now", got)
		}
	})
	t.Run("a missing container is an error", func(t *testing.T) {
		cfg := serverConfig(t)
		cfg.Container = "presignd-missing-" + randomHex()
		other, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := other.Ping(t.Context()); err == nil {
			t.Error("Ping of a missing container succeeded")
		}
	})
	t.Run("a wrong key is an error", func(t *testing.T) {
		cfg := serverConfig(t)
		cfg.Container = s.container
		cfg.AccountKey = "d3Jvbmcga2V5"
		other, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := other.Ping(t.Context()); err == nil {
			t.Error("Ping with a wrong key succeeded")
		}
	})
}

func TestCORSRules(t *testing.T) {
	s := newServerSigner(t, nil)
	ctx := t.Context()
	before, err := s.svc.GetProperties(ctx, nil)
	if err != nil {
		t.Fatalf("GetProperties: %v", err)
	}
	t.Cleanup(func() {
		_, _ = s.svc.SetProperties(ctx, &service.SetPropertiesOptions{CORS: orEmpty(before.CORS)})
	})
	rule := &service.CORSRule{
		AllowedOrigins: to.Ptr("https://app.example"), AllowedMethods: to.Ptr("PUT,GET"),
		AllowedHeaders: to.Ptr("x-ms-blob-type,content-type"), ExposedHeaders: to.Ptr("etag"), MaxAgeInSeconds: to.Ptr[int32](600),
	}
	if _, err := s.svc.SetProperties(ctx, &service.SetPropertiesOptions{CORS: []*service.CORSRule{rule}}); err != nil {
		t.Fatalf("SetProperties: %v", err)
	}
	rules, err := s.CORSRules(ctx)
	if err != nil {
		t.Fatalf("CORSRules: %v", err)
	}
	if len(rules) != 1 {
		t.Fatalf("CORSRules = %+v, want the one rule set", rules)
	}
	r := rules[0]
	if !slices.Equal(r.AllowedOrigins, []string{"https://app.example"}) || !slices.Equal(r.AllowedMethods, []string{"PUT", "GET"}) ||
		!slices.Equal(r.AllowedHeaders, []string{"x-ms-blob-type", "content-type"}) || r.MaxAge != 10*time.Minute {
		t.Errorf("CORSRules[0] = %+v, want the rule set", r)
	}
}

func orEmpty(r []*service.CORSRule) []*service.CORSRule {
	if r == nil {
		return []*service.CORSRule{}
	}
	return r
}
