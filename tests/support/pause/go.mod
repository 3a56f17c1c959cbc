module tuneforge.local/pause

go 1.24
