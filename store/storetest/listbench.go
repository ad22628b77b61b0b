package storetest

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/presignd/presignd/store"
)

// The rows a driver seeds in bulk for BenchmarkListFilesAt, with its own
// SQL (one CreateFile per row would take hours at a million): for i in
// [0, n), a READY file of BenchTenant with ID BenchID(i), CreatedAt
// BenchBase plus i milliseconds, and DisplayName BenchName(i). A driver
// seeds n/10 files of another tenant too, so tenant filtering matters.
const (
	BenchTenant      = tenantA
	BenchOtherTenant = tenantB
)

// BenchBase is the CreatedAt of seeded file 0.
var BenchBase = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// BenchWords end the seeded display names: one in ten files has each.
var BenchWords = []string{"Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot", "Golf", "Hotel", "India", "Juliet"}

// BenchID is the ID of seeded file i.
func BenchID(i int) string { return fmt.Sprintf("bench-%09d", i) }

// BenchName is the display name of seeded file i: "file <i> <word>".
func BenchName(i int) string { return "file " + strconv.Itoa(i) + " " + BenchWords[i%len(BenchWords)] }

// BenchListSizes are the table sizes BenchmarkListFilesAt runs at: 1k and
// 100k, and 1M when PRESIGND_BENCH_1M is set (seeding it takes a minute
// or more).
func BenchListSizes() []int {
	sizes := []int{1_000, 100_000}
	if os.Getenv("PRESIGND_BENCH_1M") != "" {
		sizes = append(sizes, 1_000_000)
	}
	return sizes
}

// BenchmarkListFilesAt measures ListFiles pages of 50 on a store seeded
// with n files as described above: the first page, a deep page (the page
// after a cursor in the middle of the table), a search whose word one file
// in ten has, and searches that one file matches: "file <i> " (its number
// is a whole word of the text), "file <i>" (the text ends in the start of
// a word) and "<i>" (the text is part of a word, with no word boundary in
// it). Only that one name holds its number; every name holds "file ".
func BenchmarkListFilesAt(b *testing.B, s store.Store, n int) {
	mid := n / 2
	rare := n - n/3 // the match sits a third of the way down the list
	// The searches below are only meaningful if the driver seeded the
	// names BenchName describes.
	if f, err := s.GetFile(b.Context(), BenchTenant, BenchID(rare)); err != nil || f.DisplayName != BenchName(rare) {
		b.Fatalf("seeded file %d: %+v, %v; want display name %q", rare, f, err, BenchName(rare))
	}
	pages := []struct {
		name string
		opts store.ListOptions
		want int
	}{
		{"first page", store.ListOptions{Limit: 50}, 50},
		{"deep page", store.ListOptions{Limit: 50, After: &store.Cursor{CreatedAt: BenchBase.Add(time.Duration(mid) * time.Millisecond), ID: BenchID(mid)}}, 50},
		{"search one in ten", store.ListOptions{Limit: 50, NameContains: "charlie"}, 50},
		{"search one match", store.ListOptions{Limit: 50, NameContains: "file " + strconv.Itoa(rare) + " "}, 1},
		{"search one match, word prefix", store.ListOptions{Limit: 50, NameContains: "file " + strconv.Itoa(rare)}, 1},
		{"search one match, inside a word", store.ListOptions{Limit: 50, NameContains: strconv.Itoa(rare)}, 1},
	}
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				page, _, err := s.ListFiles(b.Context(), BenchTenant, p.opts)
				if err != nil {
					b.Fatal(err)
				}
				if len(page) != p.want {
					b.Fatalf("page of %d files, want %d", len(page), p.want)
				}
			}
		})
	}
}
