module example.com/ticks

go 1.26.8

require (
	github.com/mmcloughlin/avo v0.6.0
	github.com/vdsogen/vdsogen v0.0.0
)

require (
	github.com/dave/jennifer v1.7.1 // indirect
	github.com/pelletier/go-toml/v2 v2.4.3 // indirect
	golang.org/x/arch v0.32.0 // indirect
	golang.org/x/mod v0.42.0 // indirect
	golang.org/x/sync v0.24.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/tools v0.52.0 // indirect
)

replace github.com/vdsogen/vdsogen => ../..
