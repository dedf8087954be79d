module goclocks

go 1.26
