"""Word lists for generated places: street words and suffixes, city parts, states, facility
name forms, top-level domains."""

# -- vocabulary for places ------------------------------------------------------------------------

#: Generic street words (Main, Oak, ...), split by the same hash as names.
_STREET_WORDS = (  # noqa: SIM905 - a word list reads better as one string
    "Main Oak Maple Cedar Elm Pine Walnut Chestnut Birch Willow Spruce Poplar Sycamore Hickory "
    "Magnolia Dogwood Laurel Juniper Aspen Cypress Park Lake Hill River Spring Meadow Valley "
    "Ridge Forest Highland Sunset Sunrise Church Mill School Market Bridge Water Union Center "
    "Liberty Franklin Lincoln Jefferson Madison Monroe Adams Jackson Washington Harrison Grant "
    "Cleveland Prospect Orchard Garden Grove Summit Fairview Pleasant Broad High Front Cherry "
    "Peach Locust Mulberry Hawthorn Beacon Harbor Bay Canyon Mesa Prairie Sierra Vista Colonial "
    "Heritage Commerce Industrial Airport Railroad Depot Academy College University Stadium Canal"
).split()
#: USPS street suffixes used in generated addresses (the recognizer knows the full USPS list).
_STREET_SUFFIXES = (  # noqa: SIM905 - a word list reads better as one string
    "Street St Avenue Ave Road Rd Boulevard Blvd Lane Ln Drive Dr Court Ct Way Place Pl Terrace "
    "Ter Parkway Pkwy Circle Cir Highway Hwy Trail Trl Square Sq Crossing Xing Loop Run Row Path "
    "Pike Alley Plaza Point Pt Ridge Heights Hts Commons Crescent Glen Green Grove Hollow Landing "
    "Meadows Park Pass Spur Turnpike Walk Expressway Freeway"
).split()
_CITY_PREFIXES = ("North", "South", "East", "West", "New", "Lake", "Port", "Fort", "Mount", "Saint")
_CITY_SUFFIXES = (
    "ton",
    "ville",
    "burg",
    "borough",
    "bury",
    "field",
    "ford",
    "haven",
    "mouth",
    "port",
    "side",
    "view",
    "wood",
    "land",
    "chester",
    "dale",
    "mont",
    "stead",
    "shire",
    "berg",
    " Falls",
    " Springs",
    " Heights",
    " City",
    " Beach",
    " Park",
    " Hills",
    " Valley",
    " Junction",
)
_STATES = (
    ("AL", "Alabama"),
    ("AK", "Alaska"),
    ("AZ", "Arizona"),
    ("AR", "Arkansas"),
    ("CA", "California"),
    ("CO", "Colorado"),
    ("CT", "Connecticut"),
    ("DE", "Delaware"),
    ("FL", "Florida"),
    ("GA", "Georgia"),
    ("HI", "Hawaii"),
    ("ID", "Idaho"),
    ("IL", "Illinois"),
    ("IN", "Indiana"),
    ("IA", "Iowa"),
    ("KS", "Kansas"),
    ("KY", "Kentucky"),
    ("LA", "Louisiana"),
    ("ME", "Maine"),
    ("MD", "Maryland"),
    ("MA", "Massachusetts"),
    ("MI", "Michigan"),
    ("MN", "Minnesota"),
    ("MS", "Mississippi"),
    ("MO", "Missouri"),
    ("MT", "Montana"),
    ("NE", "Nebraska"),
    ("NV", "Nevada"),
    ("NH", "New Hampshire"),
    ("NJ", "New Jersey"),
    ("NM", "New Mexico"),
    ("NY", "New York"),
    ("NC", "North Carolina"),
    ("ND", "North Dakota"),
    ("OH", "Ohio"),
    ("OK", "Oklahoma"),
    ("OR", "Oregon"),
    ("PA", "Pennsylvania"),
    ("RI", "Rhode Island"),
    ("SC", "South Carolina"),
    ("SD", "South Dakota"),
    ("TN", "Tennessee"),
    ("TX", "Texas"),
    ("UT", "Utah"),
    ("VT", "Vermont"),
    ("VA", "Virginia"),
    ("WA", "Washington"),
    ("WV", "West Virginia"),
    ("WI", "Wisconsin"),
    ("WY", "Wyoming"),
)
_FACILITY_FORMS = (
    "{last} Memorial Hospital",
    "{city} General Hospital",
    "{city} Community Hospital",
    "{city} Regional Medical Center",
    "St. {first}'s Hospital",
    "Saint {first} Medical Center",
    "{last} Medical Center",
    "{city} Imaging Center",
    "{last} Family Clinic",
    "{city} Health System",
    "University of {city} Hospital",
    "{last}-{last2} Hospital",
    "{city} Nursing and Rehabilitation Center",
    "{last} Cancer Center",
    "{city} Urgent Care",
    "{last} Children's Hospital",
    "{city} Radiology Associates",
    "{last} Skilled Nursing Facility",
)
_TLDS = ("org", "com", "net", "edu", "health", "us")
