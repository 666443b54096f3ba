"""Static reference tables behind the built-in tools (a fixed snapshot, so results never drift).

Facts (capitals, currencies, airport codes, time zones) are real; populations are rounded;
climate parameters are coarse annual means used to generate plausible, deterministic weather;
exchange rates are a fixed mid-2024 snapshot, not live rates.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class City:
    name: str
    country: str
    airport: str | None  # IATA code of the main airport (None: not served by the flight DB)
    utc_offset: float  # standard time, hours
    lat: float
    lon: float
    mean_c: float  # annual mean temperature
    swing_c: float  # half the summer-winter difference (negative south of the equator)
    rain: float  # chance of a rainy day
    population_m: float  # metro population, millions (rounded)


_CITY_ROWS = [
    ("New York", "United States", "JFK", -5, 40.7, -74.0, 13, 12, 0.32, 19.5),
    ("Los Angeles", "United States", "LAX", -8, 34.1, -118.2, 18, 4, 0.09, 12.8),
    ("Chicago", "United States", "ORD", -6, 41.9, -87.6, 10, 14, 0.31, 9.4),
    ("San Francisco", "United States", "SFO", -8, 37.8, -122.4, 14, 3, 0.19, 4.6),
    ("Miami", "United States", "MIA", -5, 25.8, -80.2, 25, 4, 0.36, 6.1),
    ("Seattle", "United States", "SEA", -8, 47.6, -122.3, 11, 7, 0.42, 4.0),
    ("Boston", "United States", "BOS", -5, 42.4, -71.1, 11, 12, 0.33, 4.9),
    ("Washington", "United States", "IAD", -5, 38.9, -77.0, 14, 11, 0.31, 6.3),
    ("London", "United Kingdom", "LHR", 0, 51.5, -0.1, 11, 7, 0.45, 9.6),
    ("Paris", "France", "CDG", 1, 48.9, 2.4, 12, 8, 0.38, 11.1),
    ("Berlin", "Germany", "BER", 1, 52.5, 13.4, 10, 10, 0.36, 4.5),
    ("Madrid", "Spain", "MAD", 1, 40.4, -3.7, 15, 10, 0.18, 6.7),
    ("Rome", "Italy", "FCO", 1, 41.9, 12.5, 16, 8, 0.24, 4.3),
    ("Amsterdam", "Netherlands", "AMS", 1, 52.4, 4.9, 10, 7, 0.45, 2.5),
    ("Lisbon", "Portugal", "LIS", 0, 38.7, -9.1, 17, 6, 0.25, 2.9),
    ("Athens", "Greece", "ATH", 2, 38.0, 23.7, 18, 9, 0.17, 3.2),
    ("Bern", "Switzerland", None, 1, 46.9, 7.4, 9, 9, 0.38, 0.4),
    ("Stockholm", "Sweden", "ARN", 1, 59.3, 18.1, 7, 10, 0.35, 1.7),
    ("Oslo", "Norway", "OSL", 1, 59.9, 10.8, 6, 10, 0.35, 1.1),
    ("Tokyo", "Japan", "HND", 9, 35.7, 139.7, 16, 10, 0.30, 37.2),
    ("Seoul", "South Korea", "ICN", 9, 37.6, 127.0, 13, 14, 0.28, 9.9),
    ("Beijing", "China", "PEK", 8, 39.9, 116.4, 13, 15, 0.18, 21.8),
    ("Singapore", "Singapore", "SIN", 8, 1.35, 103.8, 28, 1, 0.50, 5.9),
    ("Bangkok", "Thailand", "BKK", 7, 13.8, 100.5, 29, 2, 0.35, 11.1),
    ("Sydney", "Australia", "SYD", 10, -33.9, 151.2, 18, -5, 0.30, 5.3),
    ("Canberra", "Australia", None, 10, -35.3, 149.1, 13, -8, 0.25, 0.5),
    ("Toronto", "Canada", "YYZ", -5, 43.7, -79.4, 9, 13, 0.32, 6.3),
    ("Ottawa", "Canada", None, -5, 45.4, -75.7, 7, 15, 0.33, 1.4),
    ("Mexico City", "Mexico", "MEX", -6, 19.4, -99.1, 17, 3, 0.30, 21.8),
    ("Dubai", "United Arab Emirates", "DXB", 4, 25.2, 55.3, 28, 7, 0.03, 3.6),
    ("Abu Dhabi", "United Arab Emirates", "AUH", 4, 24.5, 54.4, 28, 7, 0.03, 1.5),
    ("Mumbai", "India", "BOM", 5.5, 19.1, 72.9, 27, 2, 0.35, 21.3),
    ("New Delhi", "India", "DEL", 5.5, 28.6, 77.2, 25, 9, 0.15, 32.9),
    ("Cairo", "Egypt", "CAI", 2, 30.0, 31.2, 22, 7, 0.02, 22.2),
    ("Sao Paulo", "Brazil", "GRU", -3, -23.6, -46.6, 20, -3, 0.40, 22.6),
    ("Brasilia", "Brazil", None, -3, -15.8, -47.9, 21, -2, 0.35, 4.8),
    ("Buenos Aires", "Argentina", "EZE", -3, -34.6, -58.4, 18, -6, 0.25, 15.6),
    ("Pretoria", "South Africa", None, 2, -25.7, 28.2, 18, -5, 0.20, 2.9),
    ("Nairobi", "Kenya", "NBO", 3, -1.3, 36.8, 18, 1, 0.30, 5.3),
    ("Ankara", "Turkey", None, 3, 39.9, 32.9, 12, 11, 0.20, 5.8),
    ("Istanbul", "Turkey", "IST", 3, 41.0, 29.0, 15, 9, 0.30, 15.8),
]

CITIES: dict[str, City] = {r[0]: City(*r) for r in _CITY_ROWS}
AIRPORTS: dict[str, str] = {c.airport: c.name for c in CITIES.values() if c.airport}


@dataclass(frozen=True)
class Country:
    name: str
    capital: str
    currency: str
    language: str
    population_m: float
    continent: str
    calling_code: str


_COUNTRY_ROWS = [
    ("United States", "Washington", "USD", "English", 335, "North America", "+1"),
    ("United Kingdom", "London", "GBP", "English", 68, "Europe", "+44"),
    ("France", "Paris", "EUR", "French", 68, "Europe", "+33"),
    ("Germany", "Berlin", "EUR", "German", 84, "Europe", "+49"),
    ("Spain", "Madrid", "EUR", "Spanish", 48, "Europe", "+34"),
    ("Italy", "Rome", "EUR", "Italian", 59, "Europe", "+39"),
    ("Netherlands", "Amsterdam", "EUR", "Dutch", 18, "Europe", "+31"),
    ("Portugal", "Lisbon", "EUR", "Portuguese", 10, "Europe", "+351"),
    ("Greece", "Athens", "EUR", "Greek", 10, "Europe", "+30"),
    ("Switzerland", "Bern", "CHF", "German", 9, "Europe", "+41"),
    ("Sweden", "Stockholm", "SEK", "Swedish", 10, "Europe", "+46"),
    ("Norway", "Oslo", "NOK", "Norwegian", 5.5, "Europe", "+47"),
    ("Japan", "Tokyo", "JPY", "Japanese", 124, "Asia", "+81"),
    ("South Korea", "Seoul", "KRW", "Korean", 52, "Asia", "+82"),
    ("China", "Beijing", "CNY", "Mandarin", 1410, "Asia", "+86"),
    ("Singapore", "Singapore", "SGD", "English", 5.9, "Asia", "+65"),
    ("Thailand", "Bangkok", "THB", "Thai", 72, "Asia", "+66"),
    ("India", "New Delhi", "INR", "Hindi", 1430, "Asia", "+91"),
    ("United Arab Emirates", "Abu Dhabi", "AED", "Arabic", 9.5, "Asia", "+971"),
    ("Turkey", "Ankara", "TRY", "Turkish", 85, "Asia", "+90"),
    ("Australia", "Canberra", "AUD", "English", 27, "Oceania", "+61"),
    ("Canada", "Ottawa", "CAD", "English", 40, "North America", "+1"),
    ("Mexico", "Mexico City", "MXN", "Spanish", 129, "North America", "+52"),
    ("Brazil", "Brasilia", "BRL", "Portuguese", 216, "South America", "+55"),
    ("Argentina", "Buenos Aires", "ARS", "Spanish", 46, "South America", "+54"),
    ("Egypt", "Cairo", "EGP", "Arabic", 113, "Africa", "+20"),
    ("South Africa", "Pretoria", "ZAR", "English", 62, "Africa", "+27"),
    ("Kenya", "Nairobi", "KES", "Swahili", 55, "Africa", "+254"),
]

COUNTRIES: dict[str, Country] = {r[0]: Country(*r) for r in _COUNTRY_ROWS}

# Units of currency per 1 USD (fixed snapshot).
USD_RATES: dict[str, float] = {
    "USD": 1.0, "EUR": 0.92, "GBP": 0.79, "JPY": 155.0, "KRW": 1370.0, "CNY": 7.24, "SGD": 1.35,
    "AUD": 1.51, "CAD": 1.37, "MXN": 17.0, "AED": 3.67, "INR": 83.3, "EGP": 47.0, "BRL": 5.15,
    "CHF": 0.90, "SEK": 10.6, "NOK": 10.7, "THB": 36.5, "ARS": 890.0, "ZAR": 18.4, "KES": 131.0,
    "TRY": 32.2,
}
CURRENCY_NAMES: dict[str, str] = {
    "USD": "US dollar", "EUR": "euro", "GBP": "pound sterling", "JPY": "yen", "KRW": "won",
    "CNY": "yuan", "SGD": "Singapore dollar", "AUD": "Australian dollar", "CAD": "Canadian dollar",
    "MXN": "Mexican peso", "AED": "dirham", "INR": "rupee", "EGP": "Egyptian pound", "BRL": "real",
    "CHF": "Swiss franc", "SEK": "Swedish krona", "NOK": "Norwegian krone", "THB": "baht",
    "ARS": "Argentine peso", "ZAR": "rand", "KES": "Kenyan shilling", "TRY": "Turkish lira",
}

# A small phrasebook: phrase -> language -> translation (romanised where the script differs).
PHRASES: dict[str, dict[str, str]] = {
    "hello": {"spanish": "hola", "french": "bonjour", "german": "hallo", "italian": "ciao",
              "portuguese": "olá", "japanese": "konnichiwa", "dutch": "hallo"},
    "thank you": {"spanish": "gracias", "french": "merci", "german": "danke", "italian": "grazie",
                  "portuguese": "obrigado", "japanese": "arigatou", "dutch": "dank je"},
    "goodbye": {"spanish": "adiós", "french": "au revoir", "german": "auf Wiedersehen",
                "italian": "arrivederci", "portuguese": "adeus", "japanese": "sayounara",
                "dutch": "tot ziens"},
    "good morning": {"spanish": "buenos días", "french": "bonjour", "german": "guten Morgen",
                     "italian": "buongiorno", "portuguese": "bom dia", "japanese": "ohayou",
                     "dutch": "goedemorgen"},
    "please": {"spanish": "por favor", "french": "s'il vous plaît", "german": "bitte",
               "italian": "per favore", "portuguese": "por favor", "japanese": "onegaishimasu",
               "dutch": "alsjeblieft"},
    "water": {"spanish": "agua", "french": "eau", "german": "Wasser", "italian": "acqua",
              "portuguese": "água", "japanese": "mizu", "dutch": "water"},
    "where is the station": {"spanish": "¿dónde está la estación?", "french": "où est la gare ?",
                             "german": "wo ist der Bahnhof?", "italian": "dov'è la stazione?",
                             "portuguese": "onde fica a estação?", "japanese": "eki wa doko desu ka",
                             "dutch": "waar is het station?"},
    "how much does it cost": {"spanish": "¿cuánto cuesta?", "french": "combien ça coûte ?",
                              "german": "wie viel kostet das?", "italian": "quanto costa?",
                              "portuguese": "quanto custa?", "japanese": "ikura desu ka",
                              "dutch": "hoeveel kost het?"},
}

AIRLINES = ["Delta", "United", "American", "JetBlue", "Alaska", "Lufthansa", "Air France",
            "British Airways", "KLM", "Iberia", "ANA", "Emirates", "Qantas", "Air Canada"]
AIRLINE_CODES = {"Delta": "DL", "United": "UA", "American": "AA", "JetBlue": "B6", "Alaska": "AS",
                 "Lufthansa": "LH", "Air France": "AF", "British Airways": "BA", "KLM": "KL",
                 "Iberia": "IB", "ANA": "NH", "Emirates": "EK", "Qantas": "QF", "Air Canada": "AC"}
# Home country of each airline: a route is flown by the airlines of its two countries.
AIRLINE_HOME = {"Delta": "United States", "United": "United States", "American": "United States",
                "JetBlue": "United States", "Alaska": "United States", "Lufthansa": "Germany",
                "Air France": "France", "British Airways": "United Kingdom", "KLM": "Netherlands",
                "Iberia": "Spain", "ANA": "Japan", "Emirates": "United Arab Emirates",
                "Qantas": "Australia", "Air Canada": "Canada"}
HOTEL_WORDS = (["Grand", "Park", "Harbor", "Central", "Royal", "Garden", "Riverside", "Plaza",
                "Summit", "Old Town"], ["Hotel", "Inn", "Suites", "Lodge", "Residence"])


def find_city(name: str) -> City | None:
    """Case- and accent-insensitive city lookup; also accepts an airport code."""
    key = name.strip().lower().replace("ã", "a").replace("í", "i")
    for city in CITIES.values():
        if city.name.lower() == key or (city.airport or "").lower() == key:
            return city
    aliases = {"nyc": "New York", "la": "Los Angeles", "sf": "San Francisco", "delhi": "New Delhi",
               "washington dc": "Washington", "washington, d.c.": "Washington"}
    return CITIES.get(aliases.get(key, ""))


def find_country(name: str) -> Country | None:
    key = name.strip().lower()
    aliases = {"usa": "United States", "us": "United States", "uk": "United Kingdom",
               "uae": "United Arab Emirates", "korea": "South Korea", "holland": "Netherlands"}
    for country in COUNTRIES.values():
        if country.name.lower() == key:
            return country
    return COUNTRIES.get(aliases.get(key, ""))
