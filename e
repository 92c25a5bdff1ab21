attncalc: error: /root/nonexist.toml: no such file
