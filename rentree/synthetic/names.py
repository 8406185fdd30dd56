"""Names, towns and schools of a synthetic Hauts-de-France region, and their ASCII folding.

The lists are small on purpose: people get indices into them, so a million names cost a
gather, not a million Python strings. They carry what real French directories hold:
accents, apostrophes, hyphens, spaces and a few foreign spellings.
"""

from __future__ import annotations

import re
import unicodedata

# fmt: off
LAST_NAMES: tuple[str, ...] = (
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
    "Moreau", "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "David", "Bertrand", "Roux",
    "Vincent", "Fournier", "Morel", "Girard", "André", "Lefèvre", "Mercier", "Dupont",
    "Lambert", "Bonnet", "François", "Martinez", "Legrand", "Garnier", "Faure", "Rousseau",
    "Blanc", "Guérin", "Muller", "Henry", "Roussel", "Nicolas", "Perrin", "Morin", "Mathieu",
    "Clément", "Gauthier", "Dumont", "Lopez", "Fontaine", "Chevalier", "Robin", "Masson",
    "Sanchez", "Gérard", "Nguyen", "Boyer", "Denis", "Lemaire", "Duval", "Joly", "Roche",
    "Noël", "Meyer", "Lucas", "Meunier", "Pérez", "Marchand", "Dufour", "Blanchard",
    "Barbier", "Brun", "Dumas", "Brunet", "Schmitt", "Leroux", "Colin", "Fernandez", "Renard",
    "Arnaud", "Caron", "Aubert", "Giraud", "Leclerc", "Vidal", "Bourgeois", "Renaud",
    "Lemoine", "Picard", "Gaillard", "Leclercq", "Lacroix", "Fabre", "Dupuis", "Olivier",
    "Da Silva", "Hubert", "Guillot", "Rivière", "Le Gall", "Berger", "Lecomte", "Ménard",
    "Fleury", "Deschamps", "Carpentier", "Benoît", "Maillard", "Aubry", "Vasseur", "Le Roux",
    "Jacquet", "Prévost", "Poirier", "Charpentier", "Huet", "Carré", "Müller", "N'Diaye",
    "D'Almeida", "Ben Ahmed", "Diallo", "Traoré", "Haddad", "Kowalski", "Dewitte",
    "Vandenbussche", "Delattre", "Lefranc", "Decock", "Vanhoutte", "Delcroix", "Wattez",
    "Dequidt", "O'Connor", "Saint-Pierre", "Lévêque", "Coëffic", "Van de Velde",
    "Lefèvre-Dubois", "Bouchez", "Deprez", "Dhaussy", "Wiart", "Cuvelier", "Szymański",
)

FIRST_NAMES: tuple[str, ...] = (
    "Emma", "Jade", "Louise", "Alice", "Chloé", "Lina", "Léa", "Rose", "Anna", "Mia", "Inès",
    "Ambre", "Julia", "Léna", "Manon", "Zoé", "Éloïse", "Agathe", "Camille", "Juliette",
    "Lou", "Sarah", "Léonie", "Iris", "Nina", "Romane", "Jeanne", "Margaux", "Adèle",
    "Maëlys", "Anaïs", "Clémence", "Héloïse", "Noémie", "Lucie", "Zélie", "Marie-Anne",
    "Anne-Sophie", "Aïcha", "Fatoumata", "Salomé", "Céline", "Hélène", "Sophie", "Nathalie",
    "Isabelle", "Valérie", "Sandrine", "Stéphanie", "Aurélie", "Gabriel", "Léo", "Raphaël",
    "Arthur", "Louis", "Jules", "Adam", "Maël", "Lucas", "Hugo", "Noah", "Liam", "Gabin",
    "Sacha", "Paul", "Nathan", "Aaron", "Mohamed", "Ethan", "Tom", "Éden", "Léon", "Noé",
    "Théo", "Timéo", "Martin", "Nolan", "Victor", "Axel", "Mathis", "Jean-Baptiste",
    "Pierre-Louis", "Jean-François", "Loïc", "Gaël", "Anaël", "Benoît", "Jérôme", "François",
    "Thierry", "Stéphane", "Frédéric", "Sébastien", "Grégory", "Olivier", "Cédric", "Hervé",
    "Rémi", "Yannick", "Moussa", "Youssef", "Kévin", "Amélie", "Bérénice", "Océane",
)

# (name, postcode prefix of its department); villages are made from these by suffixing.
TOWNS: tuple[tuple[str, str], ...] = (
    ("Lille", "590"), ("Roubaix", "591"), ("Tourcoing", "592"), ("Dunkerque", "591"),
    ("Villeneuve-d'Ascq", "596"), ("Valenciennes", "593"), ("Douai", "595"),
    ("Cambrai", "594"), ("Maubeuge", "596"), ("Wattrelos", "591"),
    ("Marcq-en-Barœul", "597"), ("Armentières", "592"), ("Hazebrouck", "591"),
    ("Bailleul", "592"), ("Le Cateau-Cambrésis", "593"), ("Saint-Amand-les-Eaux", "592"),
    ("Arras", "620"), ("Lens", "623"), ("Calais", "621"), ("Boulogne-sur-Mer", "622"),
    ("Liévin", "628"), ("Béthune", "624"), ("Saint-Omer", "625"), ("Hénin-Beaumont", "621"),
    ("Bruay-la-Buissière", "627"), ("Étaples", "626"), ("Berck", "626"), ("Amiens", "800"),
    ("Abbeville", "801"), ("Péronne", "802"), ("Albert", "803"), ("Doullens", "806"),
    ("Montdidier", "805"), ("Beauvais", "600"), ("Compiègne", "602"), ("Creil", "601"),
    ("Senlis", "603"), ("Noyon", "604"), ("Clermont", "606"), ("Saint-Quentin", "021"),
    ("Soissons", "022"), ("Laon", "020"), ("Château-Thierry", "024"), ("Hirson", "025"),
    ("Chauny", "023"), ("Guise", "021"), ("Vervins", "021"),
)

VILLAGE_SUFFIXES: tuple[str, ...] = (
    "", "-sur-Somme", "-lès-Arras", "-en-Artois", "-l'Abbaye", "-au-Bois", "-sur-Oise",
    "-en-Thiérache", "-le-Château", "-la-Rivière", "-Saint-Éloi", "-sur-l'Escaut",
)

SCHOOL_PATRONS: tuple[str, ...] = (
    "Jules Ferry", "Jean Jaurès", "Victor Hugo", "Jean de La Fontaine", "Louise Michel",
    "Marie Curie", "Jacques Prévert", "Paul Éluard", "Anne Frank", "Antoine de Saint-Exupéry",
    "Les Tilleuls", "Le Petit Prince", "Les Hirondelles", "Simone Veil", "Jean Moulin",
    "Albert Camus", "George Sand", "Françoise Dolto", "Condorcet", "Pasteur", "Léo Lagrange",
    "Les Coquelicots", "L'Arc-en-ciel", "Charles Perrault", "Jean Macé", "Louis Aragon",
    "Robert Desnos", "Aimé Césaire", "Camille Claudel", "Pablo Picasso", "Les Peupliers",
    "La Source", "Le Bois Joli", "Les Marronniers", "Germaine Tillion", "Olympe de Gouges",
)

CLASS_NICKNAMES: tuple[str, ...] = (
    "Les Écureuils", "Les P'tits Loups", "Les Hérissons", "Les Libellules", "Les Coccinelles",
    "Les Dauphins", "Les Renards", "Les Hiboux", "Les Étoiles", "Les Pingouins",
    "Les Abeilles", "Les Lucioles", "Les Explorateurs", "Les Petits Curieux", "Les Colibris",
)

MANUAL_GROUP_NAMES: tuple[str, ...] = (
    "Chorale", "Projet Éco-école", "Classe découverte", "Conseil d'école", "Atelier théâtre",
    "Rallye lecture", "Sortie à la mer", "Équipe pédagogique", "Club échecs",
    "Parents délégués", "Jardin de l'école", "Liaison CM2-6e", "Classe de neige",
)

BOOKMARK_NAMES: tuple[str, ...] = (
    "Mes collègues", "Parents de ma classe", "Élèves de CM2", "Équipe RASED",
    "Conseil des maîtres", "Intervenants", "Famille d'accueil", "Projet lecture",
    "Mes élèves 2024", "Atelier d'arts plastiques",
)

# fmt: on

# Names that every generated region carries at least once, whatever the seed and scale.
SHOWCASE_PUPILS: tuple[tuple[str, str], ...] = (
    ("N'Diaye", "Éloïse"),
    ("Müller", "Jean-Baptiste"),
    ("Lefèvre-Dubois", "Anaïs"),
    ("D'Almeida", "Loïc"),
)
SHOWCASE_STAFF: tuple[tuple[str, str], ...] = (
    ("O'Connor", "Marie-Anne"),
    ("Lévêque", "Jérôme"),
)

_NOT_LOGIN = re.compile(r"[^a-z0-9]+")


def ascii_fold(text: str) -> str:
    """Lower case, accents removed, anything else than letters and digits dropped (R3)."""
    decomposed = unicodedata.normalize("NFKD", text.replace("œ", "oe").replace("Œ", "Oe"))
    plain = decomposed.encode("ascii", "ignore").decode("ascii").lower()
    return _NOT_LOGIN.sub("", plain)[:30]


def village_names() -> tuple[tuple[str, str], ...]:
    """Every town and village name the region can use, with its postcode prefix."""
    return tuple(
        (f"{town}{suffix}", prefix) for suffix in VILLAGE_SUFFIXES for town, prefix in TOWNS
    )
