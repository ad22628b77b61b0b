//go:build race

package e2e

// raceEnabled: "go test -race ./e2e" also builds presignd with the race
// detector, and every test fails on a DATA RACE in its output.
const raceEnabled = true
