package main

import (
	"testing"
	"time"

	"github.com/presignd/presignd/config"
	"github.com/presignd/presignd/signer/local"
)

func TestMultipartOrphanAge(t *testing.T) {
	for _, tc := range []struct {
		name string
		ttls []time.Duration
		want time.Duration
	}{
		{"no category: the default upload_ttl and an hour", nil, 25 * time.Hour},
		{"a longer upload_ttl: it and an hour", []time.Duration{time.Hour, 72 * time.Hour}, 73 * time.Hour},
		{"shorter upload_ttls: never under the default and an hour", []time.Duration{time.Hour, 2 * time.Hour}, 25 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &config.Config{Categories: map[string]config.Category{}}
			for i, ttl := range tc.ttls {
				cfg.Categories[string(rune('a'+i))] = config.Category{Multipart: config.Multipart{UploadTTL: config.Duration(ttl)}}
			}
			if got := multipartOrphanAge(cfg); got != tc.want {
				t.Errorf("multipartOrphanAge = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestLocalMultipartMaxIdle(t *testing.T) {
	for _, tc := range []struct {
		name string
		ttl  time.Duration
		want time.Duration
	}{
		{"a short upload_ttl: the local default", time.Hour, local.DefaultMultipartMaxIdle},
		{"an upload_ttl past the local default: it and an hour", 720 * time.Hour, 721 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &config.Config{Categories: map[string]config.Category{
				"big": {Multipart: config.Multipart{UploadTTL: config.Duration(tc.ttl)}},
			}}
			if got := localMultipartMaxIdle(cfg); got != tc.want {
				t.Errorf("localMultipartMaxIdle = %s, want %s", got, tc.want)
			}
		})
	}
}
