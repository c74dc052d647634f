-- Where every team is: the router warms its travel times to these points.
SELECT ST_X(geom), ST_Y(geom) FROM citybrain.teams
