"""Word lists the offline filler composes from (recipes, products, titles, lists a prompt asks for)."""
from __future__ import annotations

CUISINES = ["Italian", "Thai", "Mexican", "Japanese", "Indian", "French", "Greek", "Spanish", "Chinese", "Korean",
            "Vietnamese", "Turkish", "Lebanese", "Moroccan", "Ethiopian", "Peruvian", "Brazilian", "American",
            "Caribbean", "German", "Russian", "Indonesian", "Malaysian", "Filipino", "Persian"]
INGREDIENTS = ["chicken", "beef", "pork", "salmon", "shrimp", "tofu", "eggs", "rice", "pasta", "potatoes", "onion",
               "garlic", "ginger", "tomatoes", "bell pepper", "carrots", "spinach", "mushrooms", "zucchini",
               "broccoli", "chickpeas", "lentils", "black beans", "coconut milk", "cream", "butter", "olive oil",
               "lemon", "lime", "basil", "cilantro", "parsley", "thyme", "rosemary", "cumin", "paprika", "chili",
               "soy sauce", "honey", "flour", "sugar", "cheddar", "parmesan", "feta", "yogurt", "avocado", "corn",
               "apple", "orange", "banana", "strawberry", "mango", "cinnamon", "vanilla", "almonds", "peanuts"]
DISHES = ["Curry", "Stir-Fry", "Risotto", "Tacos", "Soup", "Stew", "Salad", "Casserole", "Skillet", "Noodles",
          "Bowl", "Pie", "Tart", "Burger", "Flatbread", "Kebabs", "Pancakes", "Frittata", "Dumplings", "Gratin"]
METHODS = ["Roasted", "Grilled", "Braised", "Spiced", "Smoky", "Crispy", "Creamy", "Honey-Glazed", "Herbed",
           "Slow-Cooked", "Pan-Seared", "Zesty", "Garlic", "Sweet and Sour", "Coconut", "Lemon"]
STEPS = ["Prepare and measure all the ingredients.", "Heat the oil in a large pan over medium heat.",
         "Add the onion and garlic and cook until soft.", "Stir in the spices and cook for one minute.",
         "Add the main ingredients and brown them on all sides.", "Pour in the liquid and bring to a simmer.",
         "Cover and cook until tender.", "Season with salt and pepper to taste.", "Garnish with fresh herbs.",
         "Serve warm."]
MEALS = ["Breakfast", "Lunch", "Dinner", "Desserts", "Appetizers", "Drinks", "Snacks"]
PRODUCT_ADJ = ["Smart", "Ultra", "Compact", "Pro", "Eco", "Classic", "Wireless", "Portable", "Deluxe", "Mini",
               "Premium", "Rugged", "Sleek", "Turbo", "Quiet"]
PRODUCT_NOUN = ["Kettle", "Blender", "Headphones", "Backpack", "Lamp", "Speaker", "Watch", "Bottle", "Keyboard",
                "Jacket", "Camera", "Mug", "Charger", "Notebook", "Sneakers", "Desk Chair", "Toaster", "Drone"]
CATEGORIES = ["Electronics", "Home", "Kitchen", "Outdoors", "Sports", "Books", "Toys", "Beauty", "Garden", "Office"]
TITLE_ADJ = ["Silent", "Hidden", "Last", "Crimson", "Golden", "Forgotten", "Broken", "Endless", "Midnight", "Wild",
             "Distant", "Secret", "Burning", "Frozen", "Lost"]
TITLE_NOUN = ["Harbor", "Kingdom", "Garden", "River", "Letter", "Mirror", "Forest", "City", "Promise", "Voyage",
              "Shadow", "Crown", "Island", "Signal", "Door"]
ARCHETYPES = ["Hero", "Mentor", "Villain", "Trickster", "Sidekick", "Rebel", "Guardian", "Outcast", "Sage"]
SENTIMENTS = ["Positive", "Neutral", "Negative"]
REGIONS = ["North America", "Europe", "Asia-Pacific", "Latin America", "Middle East", "Africa"]
COLUMN_IDEAS = {
    "recipe": [("Calories", "calories per serving", "integer"), ("Servings", "number of servings (1-8)", "integer"),
               ("Prep Time", "preparation time (minutes)", "integer"), ("Dietary Tags", "diet labels", "array"),
               ("Spice Level", "spice level (1-5)", "integer")],
    "product": [("Category", "product category", "string"), ("Rating", "average rating (1-5)", "integer"),
                ("In Stock", "whether it is in stock", "boolean")],
    "": [("Notes", "a short note", "string"), ("Category", "a category", "string"), ("Rating", "rating (1-5)", "integer"),
         ("Created On", "creation date", "date")],
}
# "Generate 20 recipe cuisines." -> which list a list source asks for.
LISTS = [(r"cuisine", CUISINES), (r"ingredient", INGREDIENTS), (r"meal", MEALS), (r"dish|recipe", DISHES),
         (r"categor", CATEGORIES), (r"region", REGIONS), (r"sentiment", SENTIMENTS), (r"archetype", ARCHETYPES),
         (r"fruit", ["apple", "orange", "banana", "strawberry", "mango", "pear", "peach", "grape", "kiwi", "cherry"])]
ALIASES = {"usa": "North America", "us": "North America", "canada": "North America", "na": "North America",
           "uk": "Europe", "eu": "Europe", "germany": "Europe", "france": "Europe", "apac": "Asia-Pacific",
           "asia": "Asia-Pacific", "australia": "Asia-Pacific", "japan": "Asia-Pacific", "latam": "Latin America", "south america": "Latin America",
           "brazil": "Latin America", "mexico": "Latin America", "mea": "Middle East"}
SENTIMENT_WORDS = [(r"\b(?:great|love|loved|excellent|easy|worth|perfect|amazing|happy|good|best|fast|quickly)\b", 1),
                   (r"\b(?:disappointing|disappointed|broke|broken|bad|poor|noisy|slow|worst|hate|only|fails?|refund)\b", -1)]
