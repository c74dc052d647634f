-- citybrain seed --if-empty: is a county loaded already? Its towns are the top of the
-- hierarchy, which every other level and every incident lies in.
SELECT EXISTS (SELECT FROM citybrain.towns)
