//go:build !race

package e2e

// raceEnabled: a plain "go test ./e2e" builds presignd without the race
// detector, from the packages "go build ./..." has already compiled; CI
// runs with -race.
const raceEnabled = false
