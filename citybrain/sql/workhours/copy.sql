COPY citybrain.work_periods (starts, ends, before_s) FROM STDIN
