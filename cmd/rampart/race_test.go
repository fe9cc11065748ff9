//go:build race

package main

// raceEnabled: this test binary runs under the race detector, and builds
// the rampart it runs with it too.
const raceEnabled = true
