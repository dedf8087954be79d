package dsl

//go:generate go run ./internal/geninst -out zinstructions.go
