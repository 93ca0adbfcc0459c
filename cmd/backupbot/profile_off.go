//go:build !loadprofile

package main

import "net/http"

// addProfiling does nothing: profiling is built only for the load suite
// (profile_on.go, -tags loadprofile).
func addProfiling(*http.ServeMux) {}
