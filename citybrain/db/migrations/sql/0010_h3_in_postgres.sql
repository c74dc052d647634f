-- Migration 0010: H3's latLngToCell in PL/pgSQL, and the trigger that gives every point its
-- cells.

CREATE TABLE citybrain.h3_faces (
    face smallint PRIMARY KEY,
    lat float8 NOT NULL,
    lng float8 NOT NULL,
    x float8 NOT NULL,
    y float8 NOT NULL,
    z float8 NOT NULL,
    i_azimuth float8 NOT NULL,
    base_cells smallint[] NOT NULL CHECK (cardinality(base_cells) = 27),
    ccw_rotations smallint[] NOT NULL CHECK (cardinality(ccw_rotations) = 27)
);

-- The grid's constants, as H3 defines them. Per face: its centre (radians) and as a unit
-- vector, and the azimuth from the centre to the face's i axis at the Class II resolutions;
-- the base cell at each resolution-0 position (i, j, k in 0..2, k fastest) of the face's
-- coordinates, and the 60-degree counter-clockwise turns into that base cell's own orientation.
INSERT INTO citybrain.h3_faces (face, lat, lng, x, y, z, i_azimuth, base_cells, ccw_rotations)
VALUES
    (0, 0.803582649718989942, 1.248397419617396099,
     0.2199307791404606, 0.6583691780274996, 0.7198475378926182,
     5.619958268523939882,
     '{16,18,24,33,30,32,49,48,50,8,5,10,22,16,18,41,33,30,4,0,2,15,8,5,31,22,16}',
     '{0,0,0,0,0,3,1,3,3,0,5,5,0,0,0,1,0,0,0,5,5,1,0,5,1,0,0}'),
    (1, 1.307747883455638156, 2.536945009877921159,
     -0.2139234834501421, 0.1478171829550703, 0.9656017935214205,
     5.760339081714187279,
     '{2,6,14,10,11,17,24,23,25,0,1,9,5,2,6,18,10,11,4,3,7,8,0,1,16,5,2}',
     '{0,0,0,0,0,3,1,3,3,0,5,5,0,0,0,1,0,0,1,5,5,1,0,5,1,0,0}'),
    (2, 1.054751253523952054, -1.347517358900396623,
     0.1092625278784797, -0.4811951572873210, 0.8697775121287253,
     0.780213654393430055,
     '{7,21,38,9,19,34,14,20,36,3,13,29,1,7,21,6,9,19,4,12,26,0,3,13,2,1,7}',
     '{0,0,0,0,0,3,1,3,3,0,5,5,0,0,0,1,0,0,2,5,5,1,0,5,1,0,0}'),
    (3, 0.600191595538186799, -0.450603909469755746,
     0.7428567301586791, -0.3593941678278028, 0.5648005936517033,
     0.430469363979999913,
     '{26,42,58,29,43,62,38,47,64,12,28,44,13,26,42,21,29,43,4,15,31,3,12,28,7,13,26}',
     '{0,0,0,0,0,3,1,3,3,0,5,5,0,0,0,1,0,0,3,5,5,1,0,5,1,0,0}'),
    (4, 0.491715428198773866, 0.401988202911306943,
     0.8112534709140969, 0.3448953237639384, 0.4721387736413930,
     6.130269123335111400,
     '{31,41,49,44,53,61,58,65,75,15,22,33,28,31,41,42,44,53,4,8,16,12,15,22,26,28,31}',
     '{0,0,0,0,0,3,1,3,3,0,5,5,0,0,0,1,0,0,4,5,5,1,0,5,1,0,0}'),
    (5, 0.172745327415618701, 1.678146885280433686,
     -0.1055498149613921, 0.9794457296411413, 0.1718874610009365,
     2.692877706530642877,
     '{50,48,49,32,30,33,24,18,16,70,67,66,52,50,48,37,32,30,83,87,85,74,70,67,57,52,50}',
     '{0,0,3,0,3,3,3,3,3,0,0,3,3,0,0,3,0,3,0,3,3,3,0,0,1,3,0}'),
    (6, 0.605929321571350690, 2.953923329812411617,
     -0.8075407579970092, 0.1533552485898818, 0.5695261994882688,
     2.982963003477243874,
     '{25,23,24,17,11,10,14,6,2,45,39,37,35,25,23,27,17,11,63,59,57,56,45,39,46,35,25}',
     '{0,0,3,0,3,3,3,3,3,0,0,3,3,0,0,3,0,3,0,3,3,3,0,0,3,3,0}'),
    (7, 0.427370518328979641, -1.888876200336285401,
     -0.2846148069787907, -0.8644080972654206, 0.4144792552473539,
     3.532912002790141181,
     '{36,20,14,34,19,9,38,21,7,55,40,27,54,36,20,51,34,19,72,60,46,73,55,40,71,54,36}',
     '{0,0,3,0,3,3,3,3,3,0,0,3,3,0,0,3,0,3,0,3,3,3,0,0,3,3,0}'),
    (8, -0.079066118549212831, -0.733429513380867741,
     0.7405621473854482, -0.6673299564565524, -0.0789837646326737,
     3.494305004259568154,
     '{64,47,38,62,43,29,58,42,26,84,69,51,82,64,47,76,62,43,97,89,71,98,84,69,96,82,64}',
     '{0,0,3,0,3,3,3,3,3,0,0,3,3,0,0,3,0,3,0,3,3,3,0,0,3,3,0}'),
    (9, -0.230961644455383637, 0.506495587332349035,
     0.8512303986474293, 0.4722343788582681, -0.2289137388687808,
     3.003214169499538391,
     '{75,65,58,61,53,44,49,41,31,94,86,76,81,75,65,66,61,53,107,104,96,101,94,86,85,81,75}',
     '{0,0,3,0,3,3,3,3,3,0,0,3,3,0,0,3,0,3,0,3,3,3,0,0,3,3,0}'),
    (10, 0.079066118549212831, 2.408163140208925497,
     -0.7405621473854481, 0.6673299564565524, 0.0789837646326737,
     5.930472956509811562,
     '{57,59,63,74,78,79,83,92,95,37,39,45,52,57,59,70,74,78,24,23,25,32,37,39,50,52,57}',
     '{0,0,3,0,3,3,3,3,3,0,3,3,0,0,0,3,0,3,0,3,3,3,0,3,3,0,0}'),
    (11, 0.230961644455383637, -2.635097066257444203,
     -0.8512303986474292, -0.4722343788582682, 0.2289137388687808,
     0.138378484090254847,
     '{46,60,72,56,68,80,63,77,90,27,40,55,35,46,60,45,56,68,14,20,36,17,27,40,25,35,46}',
     '{0,0,3,0,3,3,3,3,3,0,3,3,0,0,0,3,0,3,0,3,3,3,0,3,3,0,0}'),
    (12, -0.172745327415618701, -1.463445768309359553,
     0.1055498149613919, -0.9794457296411413, -0.1718874610009365,
     0.448714947059150361,
     '{71,89,97,73,91,103,72,88,105,51,69,84,54,71,89,55,73,91,38,47,64,34,51,69,36,54,71}',
     '{0,0,3,0,3,3,3,3,3,0,3,3,0,0,0,3,0,3,0,3,3,3,0,3,3,0,0}'),
    (13, -0.605929321571350690, -0.187669323777381622,
     0.8075407579970092, -0.1533552485898819, -0.5695261994882688,
     0.158629650112549365,
     '{96,104,107,98,110,115,97,111,119,76,86,94,82,96,104,84,98,110,58,65,75,62,76,86,64,82,96}',
     '{0,0,3,0,3,3,3,3,3,0,3,3,0,0,0,3,0,3,0,3,3,3,0,3,3,0,0}'),
    (14, -0.427370518328979641, 1.252716453253507838,
     0.2846148069787908, 0.8644080972654204, -0.4144792552473539,
     5.891865957979238535,
     '{85,87,83,101,102,100,107,112,114,66,67,70,81,85,87,94,101,102,49,48,50,61,66,67,75,81,85}',
     '{0,0,3,0,3,3,3,3,3,0,3,3,0,0,0,3,0,3,0,3,3,3,0,3,3,0,0}'),
    (15, -0.600191595538186799, 2.690988744120037492,
     -0.7428567301586791, 0.3593941678278027, -0.5648005936517033,
     2.711123289609793325,
     '{95,92,83,79,78,74,63,59,57,109,108,100,93,95,92,77,79,78,117,118,114,106,109,108,90,93,95}',
     '{0,0,0,0,0,3,1,3,3,0,0,5,1,0,0,1,0,0,4,5,5,1,0,0,1,1,0}'),
    (16, -0.491715428198773866, -2.739604450678486295,
     -0.8112534709140971, -0.3448953237639382, -0.4721387736413930,
     3.294508837434268316,
     '{90,77,63,80,68,56,72,60,46,106,93,79,99,90,77,88,80,68,117,109,95,113,106,93,105,99,90}',
     '{0,0,0,0,0,3,1,3,3,0,0,5,1,0,0,1,0,0,3,5,5,1,0,0,1,1,0}'),
    (17, -0.803582649718989942, -1.893195233972397139,
     -0.2199307791404607, -0.6583691780274996, -0.7198475378926182,
     3.804819692245439833,
     '{105,88,72,103,91,73,97,89,71,113,99,80,116,105,88,111,103,91,117,106,90,121,113,99,119,116,105}',
     '{0,0,0,0,0,3,1,3,3,0,0,5,1,0,0,1,0,0,2,5,5,1,0,0,1,1,0}'),
    (18, -1.307747883455638156, -0.604647643711872080,
     0.2139234834501420, -0.1478171829550704, -0.9656017935214205,
     3.664438879055192436,
     '{119,111,97,115,110,98,107,104,96,121,116,103,120,119,111,112,115,110,117,113,105,118,121,116,114,120,119}',
     '{0,0,0,0,0,3,1,3,3,0,0,5,1,0,0,1,0,0,1,5,5,1,0,0,1,1,0}'),
    (19, -1.054751253523952054, 1.794075294689396615,
     -0.1092625278784796, 0.4811951572873210, -0.8697775121287253,
     2.361378999196363184,
     '{114,112,107,100,102,101,83,87,85,118,120,115,108,114,112,92,100,102,117,121,119,109,118,120,95,108,114}',
     '{0,0,0,0,0,3,1,3,3,0,0,5,1,0,0,1,0,0,0,5,5,1,0,0,1,1,0}');

-- latLngToCell at several resolutions at once (the face is found once). Digits are kept in
-- an array while they are turned (d[r] is resolution r's); a turn of a digit is a step along
-- the cycle K(1) IK(5) I(4) IJ(6) J(2) JK(3), counter-clockwise.
CREATE FUNCTION citybrain.h3_latlng_to_cells(lat float8, lng float8, resolutions integer[])
RETURNS bigint[] LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
#variable_conflict use_variable
DECLARE
    phi float8;
    lam float8;
    px float8;
    py float8;
    pz float8;
    ccw constant integer[] := '{5,3,1,6,4,2}';  -- ccw[d]: digit d turned 60 degrees ccw
    cw constant integer[] := '{3,6,2,5,1,4}';
    f record;
    azimuth float8;
    gnomonic float8;
    r float8;
    theta float8;
    vx float8;
    vy float8;
    x1 float8;
    x2 float8;
    r1 float8;
    r2 float8;
    m1 integer;
    m2 integer;
    i integer;
    j integer;
    k integer;
    ii integer;
    jj integer;
    pi_ integer;
    pj integer;
    pk integer;
    ci integer;
    cj integer;
    ck integer;
    m integer;
    d integer[];
    bc integer;
    turns integer;
    lead integer;
    cell bigint;
    res integer;
    cells bigint[] := '{}';
BEGIN
    IF lat IN ('NaN', 'Infinity', '-Infinity') OR lng IN ('NaN', 'Infinity', '-Infinity') THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('(%s, %s) is not a finite latitude and longitude', lat, lng);
    END IF;
    phi := radians(lat);
    lam := radians(lng);
    px := cos(lam) * cos(phi);  -- the point as a unit vector
    py := sin(lam) * cos(phi);
    pz := sin(phi);

    -- The nearest face centre; the point's distance (gnomonic) and azimuth from it.
    SELECT h.face, h.lat, h.lng, h.i_azimuth, h.base_cells, h.ccw_rotations,
           (h.x - px) * (h.x - px) + (h.y - py) * (h.y - py) + (h.z - pz) * (h.z - pz) AS sqd
    INTO f FROM citybrain.h3_faces h ORDER BY sqd, h.face LIMIT 1;
    gnomonic := acos(1 - f.sqd * 0.5);
    IF gnomonic >= 1e-16 THEN
        azimuth := atan2(cos(phi) * sin(lam - f.lng),
                         cos(f.lat) * sin(phi) - sin(f.lat) * cos(phi) * cos(lam - f.lng));
        IF azimuth < 0 THEN azimuth := azimuth + 2 * pi(); END IF;
        IF azimuth >= 2 * pi() THEN azimuth := azimuth - 2 * pi(); END IF;
        azimuth := f.i_azimuth - azimuth;
        IF azimuth < 0 THEN azimuth := azimuth + 2 * pi(); END IF;
        IF azimuth >= 2 * pi() THEN azimuth := azimuth - 2 * pi(); END IF;
        gnomonic := tan(gnomonic) * 2.61803398874989588842;  -- in resolution 0 units
    END IF;

    FOREACH res IN ARRAY resolutions LOOP
        IF res < 0 OR res > 15 THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('H3 resolution %s is outside 0..15', res);
        END IF;
        -- The point in the face's plane in units of the resolution's hexagon spacing.
        IF gnomonic < 1e-16 THEN
            vx := 0;
            vy := 0;
        ELSE
            theta := azimuth;
            IF res % 2 = 1 THEN  -- Class III grids are turned by asin(sqrt(3/28))
                theta := theta - 0.333473172251832115336090755351601070065900389;
                IF theta < 0 THEN theta := theta + 2 * pi(); END IF;
                IF theta >= 2 * pi() THEN theta := theta - 2 * pi(); END IF;
            END IF;
            r := gnomonic;
            FOR n IN 1..res LOOP
                r := r * 2.6457513110645905905016157536392604257102;
            END LOOP;
            vx := r * cos(theta);
            vy := r * sin(theta);
        END IF;

        -- The hexagon containing (vx, vy), as ijk coordinates.
        x2 := abs(vy) * 1.1547005383792515290182975610039149112953;
        x1 := abs(vx) + x2 / 2;
        m1 := trunc(x1);
        m2 := trunc(x2);
        r1 := x1 - m1;
        r2 := x2 - m2;
        IF r1 < 0.5 THEN
            IF r1 < 1.0 / 3 THEN
                i := m1;
                j := CASE WHEN r2 < (1 + r1) / 2 THEN m2 ELSE m2 + 1 END;
            ELSE
                j := CASE WHEN r2 < 1 - r1 THEN m2 ELSE m2 + 1 END;
                i := CASE WHEN 1 - r1 <= r2 AND r2 < 2 * r1 THEN m1 + 1 ELSE m1 END;
            END IF;
        ELSIF r1 < 2.0 / 3 THEN
            j := CASE WHEN r2 < 1 - r1 THEN m2 ELSE m2 + 1 END;
            i := CASE WHEN 2 * r1 - 1 < r2 AND r2 < 1 - r1 THEN m1 ELSE m1 + 1 END;
        ELSE
            i := m1 + 1;
            j := CASE WHEN r2 < r1 / 2 THEN m2 ELSE m2 + 1 END;
        END IF;
        IF vx < 0 THEN  -- fold across the axes
            IF j % 2 = 0 THEN
                i := i - 2 * (i - j / 2);
            ELSE
                i := i - (2 * (i - (j + 1) / 2) + 1);
            END IF;
        END IF;
        IF vy < 0 THEN
            i := i - (2 * j + 1) / 2;
            j := -j;
        END IF;
        m := least(i, j, 0);  -- normal form: the smallest coordinate is 0
        i := i - m;
        j := j - m;
        k := -m;

        -- Up to resolution 0, one aperture-7 step at a time; each step's digit is where the
        -- cell lies from its parent's centre child.
        d := array_fill(0, ARRAY[15]);
        FOR rr IN REVERSE res..1 LOOP
            ii := i - k;
            jj := j - k;
            IF rr % 2 = 1 THEN  -- Class III: counter-clockwise aperture 7
                pi_ := round((3 * ii - jj)::float8 / 7);
                pj := round((ii + 2 * jj)::float8 / 7);
            ELSE  -- Class II: clockwise aperture 7
                pi_ := round((2 * ii + jj)::float8 / 7);
                pj := round((3 * jj - ii)::float8 / 7);
            END IF;
            m := least(pi_, pj, 0);
            pi_ := pi_ - m;
            pj := pj - m;
            pk := -m;
            IF rr % 2 = 1 THEN
                ci := i - (3 * pi_ + pj);
                cj := j - (3 * pj + pk);
                ck := k - (pi_ + 3 * pk);
            ELSE
                ci := i - (3 * pi_ + pk);
                cj := j - (pi_ + 3 * pj);
                ck := k - (pj + 3 * pk);
            END IF;
            m := least(ci, cj, ck);
            d[rr] := 4 * (ci - m) + 2 * (cj - m) + (ck - m);
            i := pi_;
            j := pj;
            k := pk;
        END LOOP;

        IF greatest(i, j, k) > 2 THEN
            RAISE EXCEPTION 'H3: no base cell at face % (%, %, %)', f.face, i, j, k;
        END IF;
        bc := f.base_cells[9 * i + 3 * j + k + 1];
        turns := f.ccw_rotations[9 * i + 3 * j + k + 1];

        IF bc IN (4, 14, 24, 38, 49, 58, 63, 72, 83, 97, 107, 117) THEN  -- pentagons
            lead := 0;
            FOR rr IN 1..res LOOP
                IF d[rr] <> 0 THEN lead := d[rr]; EXIT; END IF;
            END LOOP;
            IF lead = 1 THEN  -- out of the deleted k-axes subsequence
                IF f.face = ANY (CASE bc
                        WHEN 14 THEN '{2,6}'::integer[] WHEN 24 THEN '{1,5}' WHEN 38 THEN '{3,7}'
                        WHEN 49 THEN '{0,9}' WHEN 58 THEN '{4,8}' WHEN 63 THEN '{11,15}'
                        WHEN 72 THEN '{12,16}' WHEN 83 THEN '{10,19}' WHEN 97 THEN '{13,17}'
                        WHEN 107 THEN '{14,18}' ELSE '{}' END) THEN
                    FOR rr IN 1..res LOOP
                        IF d[rr] <> 0 THEN d[rr] := cw[d[rr]]; END IF;
                    END LOOP;
                ELSE
                    FOR rr IN 1..res LOOP
                        IF d[rr] <> 0 THEN d[rr] := ccw[d[rr]]; END IF;
                    END LOOP;
                END IF;
            END IF;
            FOR t IN 1..turns LOOP
                lead := 0;
                FOR rr IN 1..res LOOP
                    IF d[rr] <> 0 THEN d[rr] := ccw[d[rr]]; END IF;
                    IF lead = 0 AND d[rr] <> 0 THEN
                        lead := 1;
                        IF d[rr] = 1 THEN  -- turned onto the k axis: turn all once more
                            FOR q IN 1..res LOOP
                                IF d[q] <> 0 THEN d[q] := ccw[d[q]]; END IF;
                            END LOOP;
                        END IF;
                    END IF;
                END LOOP;
            END LOOP;
        ELSIF turns > 0 THEN
            FOR rr IN 1..res LOOP
                FOR t IN 1..turns LOOP
                    IF d[rr] <> 0 THEN d[rr] := ccw[d[rr]]; END IF;
                END LOOP;
            END LOOP;
        END IF;

        -- mode 1 (cell), resolution, base cell, the digits, 7 in every unused digit
        cell := (1::bigint << 59) | (res::bigint << 52) | (bc::bigint << 45)
                | ((1::bigint << (3 * (15 - res))) - 1);
        FOR rr IN 1..res LOOP
            cell := cell | (d[rr]::bigint << (3 * (15 - rr)));
        END LOOP;
        cells := cells || cell;
    END LOOP;
    RETURN cells;
END $$;

CREATE FUNCTION citybrain.h3_latlng_to_cell(lat float8, lng float8, res integer)
RETURNS bigint LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN (citybrain.h3_latlng_to_cells(lat, lng, ARRAY[res]))[1];

COMMENT ON FUNCTION citybrain.h3_latlng_to_cell(float8, float8, integer) IS
    'H3 latLngToCell in PL/pgSQL: the cell (as a signed bigint) containing a WGS84 point at a resolution 0..15';

-- The cells of a point row, unless the writer computed them itself (citybrain.cells_given).
CREATE FUNCTION citybrain.fill_cells() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    cells bigint[];
BEGIN
    IF current_setting('citybrain.cells_given', true) = 'on' THEN
        RETURN NEW;
    END IF;
    IF TG_TABLE_NAME = 'incidents' THEN
        cells := citybrain.h3_latlng_to_cells(ST_Y(NEW.geom), ST_X(NEW.geom),
                                              '{15,5,6,7,8,9,10,11}');
        NEW.h3_5 := cells[2];
        NEW.h3_6 := cells[3];
        NEW.h3_7 := cells[4];
        NEW.h3_8 := cells[5];
        NEW.h3_9 := cells[6];
        NEW.h3_10 := cells[7];
        NEW.h3_11 := cells[8];
    ELSE
        cells := citybrain.h3_latlng_to_cells(ST_Y(NEW.geom), ST_X(NEW.geom), '{15}');
    END IF;
    NEW.h3 := cells[1];
    RETURN NEW;
END $$;

-- Every insert, and every update of the point or its cells.
CREATE TRIGGER teams_cells BEFORE INSERT OR UPDATE OF geom, h3
    ON citybrain.teams FOR EACH ROW EXECUTE FUNCTION citybrain.fill_cells();
CREATE TRIGGER cameras_cells BEFORE INSERT OR UPDATE OF geom, h3
    ON citybrain.cameras FOR EACH ROW EXECUTE FUNCTION citybrain.fill_cells();
CREATE TRIGGER facilities_cells BEFORE INSERT OR UPDATE OF geom, h3
    ON citybrain.facilities FOR EACH ROW EXECUTE FUNCTION citybrain.fill_cells();
CREATE TRIGGER incidents_cells
    BEFORE INSERT OR UPDATE OF geom, h3, h3_5, h3_6, h3_7, h3_8, h3_9, h3_10, h3_11
    ON citybrain.incidents FOR EACH ROW EXECUTE FUNCTION citybrain.fill_cells();
