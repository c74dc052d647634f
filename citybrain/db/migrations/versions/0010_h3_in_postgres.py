"""H3 cells computed by PostgreSQL: every point gets its cells however it arrives.

``citybrain.h3_latlng_to_cell(lat, lng, res)`` is H3's ``latLngToCell`` in PL/pgSQL (no
extension needed; PostgreSQL here has no h3-pg): the point's icosahedron face and gnomonic
position on it, the hexagon there at the resolution, its digits read off by aperture-7 steps
up to resolution 0, and the base cell and rotation from H3's table of faces. The grid's
constants (face centres and axes, which base cell lies at each resolution-0 position of each
face) are the ones H3 defines; they live in one small table, ``citybrain.h3_faces``.
``h3_latlng_to_cells`` gives several resolutions in one call (the face is found once): ~30 us
for one, ~115 us for the eight an incident carries.

A BEFORE trigger on every point table sets ``h3`` (resolution 15) and, for incidents,
``h3_5`` .. ``h3_11`` on every insert and on every update of the point or its cells, whatever
the writer sent: a row can no longer carry a cell of another place. Only a writer that says
it computed them itself with H3 (``SET LOCAL citybrain.cells_given = on``: the bulk loader,
which does it in a vectorised pass) skips the work. This replaces migration 0008's guard,
which could only refuse moves that certainly left a cell stale.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from citybrain.db.migrate import migration

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

POINT_TABLES = ("teams", "cameras", "facilities", "incidents")
HEAT_RESOLUTIONS = range(5, 12)

# Per face: centre (radians) and as a unit vector, and the azimuth from the centre to the
# face's i axis at the Class II resolutions.
FACES = [
    (0, 0.803582649718989942, 1.248397419617396099,
     0.2199307791404606, 0.6583691780274996, 0.7198475378926182, 5.619958268523939882),
    (1, 1.307747883455638156, 2.536945009877921159,
     -0.2139234834501421, 0.1478171829550703, 0.9656017935214205, 5.760339081714187279),
    (2, 1.054751253523952054, -1.347517358900396623,
     0.1092625278784797, -0.4811951572873210, 0.8697775121287253, 0.780213654393430055),
    (3, 0.600191595538186799, -0.450603909469755746,
     0.7428567301586791, -0.3593941678278028, 0.5648005936517033, 0.430469363979999913),
    (4, 0.491715428198773866, 0.401988202911306943,
     0.8112534709140969, 0.3448953237639384, 0.4721387736413930, 6.130269123335111400),
    (5, 0.172745327415618701, 1.678146885280433686,
     -0.1055498149613921, 0.9794457296411413, 0.1718874610009365, 2.692877706530642877),
    (6, 0.605929321571350690, 2.953923329812411617,
     -0.8075407579970092, 0.1533552485898818, 0.5695261994882688, 2.982963003477243874),
    (7, 0.427370518328979641, -1.888876200336285401,
     -0.2846148069787907, -0.8644080972654206, 0.4144792552473539, 3.532912002790141181),
    (8, -0.079066118549212831, -0.733429513380867741,
     0.7405621473854482, -0.6673299564565524, -0.0789837646326737, 3.494305004259568154),
    (9, -0.230961644455383637, 0.506495587332349035,
     0.8512303986474293, 0.4722343788582681, -0.2289137388687808, 3.003214169499538391),
    (10, 0.079066118549212831, 2.408163140208925497,
     -0.7405621473854481, 0.6673299564565524, 0.0789837646326737, 5.930472956509811562),
    (11, 0.230961644455383637, -2.635097066257444203,
     -0.8512303986474292, -0.4722343788582682, 0.2289137388687808, 0.138378484090254847),
    (12, -0.172745327415618701, -1.463445768309359553,
     0.1055498149613919, -0.9794457296411413, -0.1718874610009365, 0.448714947059150361),
    (13, -0.605929321571350690, -0.187669323777381622,
     0.8075407579970092, -0.1533552485898819, -0.5695261994882688, 0.158629650112549365),
    (14, -0.427370518328979641, 1.252716453253507838,
     0.2846148069787908, 0.8644080972654204, -0.4144792552473539, 5.891865957979238535),
    (15, -0.600191595538186799, 2.690988744120037492,
     -0.7428567301586791, 0.3593941678278027, -0.5648005936517033, 2.711123289609793325),
    (16, -0.491715428198773866, -2.739604450678486295,
     -0.8112534709140971, -0.3448953237639382, -0.4721387736413930, 3.294508837434268316),
    (17, -0.803582649718989942, -1.893195233972397139,
     -0.2199307791404607, -0.6583691780274996, -0.7198475378926182, 3.804819692245439833),
    (18, -1.307747883455638156, -0.604647643711872080,
     0.2139234834501420, -0.1478171829550704, -0.9656017935214205, 3.664438879055192436),
    (19, -1.054751253523952054, 1.794075294689396615,
     -0.1092625278784796, 0.4811951572873210, -0.8697775121287253, 2.361378999196363184),
]  # fmt: skip

# Per face (a line each), the base cell at each resolution-0 position (i, j, k in 0..2, k
# fastest) of the face's coordinates, as base_cell/ccw_rotations (60-degree turns into the base
# cell's own orientation).
BASE_CELLS = """
16/0 18/0 24/0 33/0 30/0 32/3 49/1 48/3 50/3 8/0 5/5 10/5 22/0 16/0 18/0 41/1 33/0 30/0 4/0 0/5 2/5 15/1 8/0 5/5 31/1 22/0 16/0
2/0 6/0 14/0 10/0 11/0 17/3 24/1 23/3 25/3 0/0 1/5 9/5 5/0 2/0 6/0 18/1 10/0 11/0 4/1 3/5 7/5 8/1 0/0 1/5 16/1 5/0 2/0
7/0 21/0 38/0 9/0 19/0 34/3 14/1 20/3 36/3 3/0 13/5 29/5 1/0 7/0 21/0 6/1 9/0 19/0 4/2 12/5 26/5 0/1 3/0 13/5 2/1 1/0 7/0
26/0 42/0 58/0 29/0 43/0 62/3 38/1 47/3 64/3 12/0 28/5 44/5 13/0 26/0 42/0 21/1 29/0 43/0 4/3 15/5 31/5 3/1 12/0 28/5 7/1 13/0 26/0
31/0 41/0 49/0 44/0 53/0 61/3 58/1 65/3 75/3 15/0 22/5 33/5 28/0 31/0 41/0 42/1 44/0 53/0 4/4 8/5 16/5 12/1 15/0 22/5 26/1 28/0 31/0
50/0 48/0 49/3 32/0 30/3 33/3 24/3 18/3 16/3 70/0 67/0 66/3 52/3 50/0 48/0 37/3 32/0 30/3 83/0 87/3 85/3 74/3 70/0 67/0 57/1 52/3 50/0
25/0 23/0 24/3 17/0 11/3 10/3 14/3 6/3 2/3 45/0 39/0 37/3 35/3 25/0 23/0 27/3 17/0 11/3 63/0 59/3 57/3 56/3 45/0 39/0 46/3 35/3 25/0
36/0 20/0 14/3 34/0 19/3 9/3 38/3 21/3 7/3 55/0 40/0 27/3 54/3 36/0 20/0 51/3 34/0 19/3 72/0 60/3 46/3 73/3 55/0 40/0 71/3 54/3 36/0
64/0 47/0 38/3 62/0 43/3 29/3 58/3 42/3 26/3 84/0 69/0 51/3 82/3 64/0 47/0 76/3 62/0 43/3 97/0 89/3 71/3 98/3 84/0 69/0 96/3 82/3 64/0
75/0 65/0 58/3 61/0 53/3 44/3 49/3 41/3 31/3 94/0 86/0 76/3 81/3 75/0 65/0 66/3 61/0 53/3 107/0 104/3 96/3 101/3 94/0 86/0 85/3 81/3 75/0
57/0 59/0 63/3 74/0 78/3 79/3 83/3 92/3 95/3 37/0 39/3 45/3 52/0 57/0 59/0 70/3 74/0 78/3 24/0 23/3 25/3 32/3 37/0 39/3 50/3 52/0 57/0
46/0 60/0 72/3 56/0 68/3 80/3 63/3 77/3 90/3 27/0 40/3 55/3 35/0 46/0 60/0 45/3 56/0 68/3 14/0 20/3 36/3 17/3 27/0 40/3 25/3 35/0 46/0
71/0 89/0 97/3 73/0 91/3 103/3 72/3 88/3 105/3 51/0 69/3 84/3 54/0 71/0 89/0 55/3 73/0 91/3 38/0 47/3 64/3 34/3 51/0 69/3 36/3 54/0 71/0
96/0 104/0 107/3 98/0 110/3 115/3 97/3 111/3 119/3 76/0 86/3 94/3 82/0 96/0 104/0 84/3 98/0 110/3 58/0 65/3 75/3 62/3 76/0 86/3 64/3 82/0 96/0
85/0 87/0 83/3 101/0 102/3 100/3 107/3 112/3 114/3 66/0 67/3 70/3 81/0 85/0 87/0 94/3 101/0 102/3 49/0 48/3 50/3 61/3 66/0 67/3 75/3 81/0 85/0
95/0 92/0 83/0 79/0 78/0 74/3 63/1 59/3 57/3 109/0 108/0 100/5 93/1 95/0 92/0 77/1 79/0 78/0 117/4 118/5 114/5 106/1 109/0 108/0 90/1 93/1 95/0
90/0 77/0 63/0 80/0 68/0 56/3 72/1 60/3 46/3 106/0 93/0 79/5 99/1 90/0 77/0 88/1 80/0 68/0 117/3 109/5 95/5 113/1 106/0 93/0 105/1 99/1 90/0
105/0 88/0 72/0 103/0 91/0 73/3 97/1 89/3 71/3 113/0 99/0 80/5 116/1 105/0 88/0 111/1 103/0 91/0 117/2 106/5 90/5 121/1 113/0 99/0 119/1 116/1 105/0
119/0 111/0 97/0 115/0 110/0 98/3 107/1 104/3 96/3 121/0 116/0 103/5 120/1 119/0 111/0 112/1 115/0 110/0 117/1 113/5 105/5 118/1 121/0 116/0 114/1 120/1 119/0
114/0 112/0 107/0 100/0 102/0 101/3 83/1 87/3 85/3 118/0 120/0 115/5 108/1 114/0 112/0 92/1 100/0 102/0 117/0 121/5 119/5 109/1 118/0 120/0 95/1 108/1 114/0
"""

TABLES = """
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
"""

FUNCTIONS = r"""
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
"""


def _cell_columns(table: str) -> str:
    cells = ["h3"] + ([f"h3_{r}" for r in HEAT_RESOLUTIONS] if table == "incidents" else [])
    return ", ".join(["geom", *cells])


def _faces() -> list[dict]:
    rows = []
    for face, line in zip(FACES, BASE_CELLS.strip().split("\n"), strict=True):
        pairs = [entry.split("/") for entry in line.split()]
        keys = ("face", "lat", "lng", "x", "y", "z", "i_azimuth")
        rows.append(
            dict(zip(keys, face, strict=True))
            | {"base_cells": [int(bc) for bc, _ in pairs]}
            | {"ccw_rotations": [int(turns) for _, turns in pairs]}
        )
    return rows


def upgrade() -> None:
    op.execute(TABLES)
    columns = ("face", "lat", "lng", "x", "y", "z", "i_azimuth", "base_cells", "ccw_rotations")
    op.bulk_insert(sa.table("h3_faces", *map(sa.column, columns), schema="citybrain"), _faces())
    op.execute(FUNCTIONS)
    stale = migration("0008_stale_cells_guard.py")
    stale.downgrade()
    for table in POINT_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_cells BEFORE INSERT OR UPDATE OF {_cell_columns(table)} "
            f"ON citybrain.{table} FOR EACH ROW EXECUTE FUNCTION citybrain.fill_cells()"
        )


def downgrade() -> None:
    for table in POINT_TABLES:
        op.execute(f"DROP TRIGGER {table}_cells ON citybrain.{table}")
    migration("0008_stale_cells_guard.py").upgrade()
    op.execute("DROP FUNCTION citybrain.fill_cells()")
    op.execute("DROP FUNCTION citybrain.h3_latlng_to_cell(float8, float8, integer)")
    op.execute("DROP FUNCTION citybrain.h3_latlng_to_cells(float8, float8, integer[])")
    op.execute("DROP TABLE citybrain.h3_faces")
