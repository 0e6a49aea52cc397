module github.com/billrelay/billrelay

go 1.26.8
