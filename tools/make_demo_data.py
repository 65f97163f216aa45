#!/usr/bin/env python3
"""Write the committed demo inputs: data/demo/wildchat_demo.jsonl, wildchat_malformed.jsonl, wildchat_realistic.jsonl.

Stdlib only and deterministic: every prompt and reply is literal data in this file (written by the rewild
authors, not copied from WildChat); the only randomness is a seeded `random.Random` for conversation hashes,
hashed IPs and turn identifiers. Moderation scores are derived from a SHA-256 of the utterance, so they are
stable too. Re-running the script reproduces both files byte for byte.

Rows follow the WildChat-1M schema (docs/architecture.md "Row schema"), as the HF dataset would export them
to JSON: `openai_moderation` / `detoxify_moderation` are lists (one entry per utterance), `header` is a dict
({"accept-language", "user-agent"}), timestamps are ISO-8601 strings. As in WildChat, user turns carry
country/state/hashed_ip/header and assistant turns carry null there; some users have a null `state`.

`wildchat_realistic.jsonl` is the test set that looks like real WildChat traffic (long multi-turn chats, seven
languages and scripts, pasted code and articles, the odd rows WildChat has, toxic and redacted flags): its texts
live in tools/realistic_demo_text.py; see data/demo/README.md.

Usage: python tools/make_demo_data.py [--out-dir data/demo] [--check]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import math
import random
import sys
from pathlib import Path

SEED = 20250130
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling text module, however this file is run

import realistic_demo_text as realistic  # noqa: E402 (after the path it needs)

# --------------------------------------------------------------------------------------------------------------
# Locale data per language: (country, state or None, accept-language)
# --------------------------------------------------------------------------------------------------------------
LOCALES = {
    "English": [
        ("United States", "California", "en-US,en;q=0.9"),
        ("United Kingdom", "England", "en-GB,en-US;q=0.9,en;q=0.8"),
        ("Canada", "Ontario", "en-CA,en-US;q=0.9,en;q=0.8"),
        ("India", "Maharashtra", "en-IN,en-GB;q=0.9,en-US;q=0.8,en;q=0.7"),
        ("Australia", "New South Wales", "en-AU,en;q=0.9"),
        ("United States", "Texas", "en-US,en;q=0.9"),
        ("Philippines", None, "en-US,en;q=0.9,fil;q=0.8"),
        ("United States", "New York", "en-US,en;q=0.9"),
    ],
    "Chinese": [
        ("China", "Beijing", "zh-CN,zh;q=0.9"),
        ("China", "Guangdong", "zh-CN,zh;q=0.9,en;q=0.8"),
        ("Hong Kong", None, "zh-HK,zh;q=0.9,en;q=0.8"),
    ],
    "Russian": [
        ("Russia", "Moscow", "ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7"),
        ("Russia", "St.-Petersburg", "ru,en;q=0.9"),
        ("Kazakhstan", None, "ru-RU,ru;q=0.9,kk;q=0.8"),
    ],
    "Spanish": [
        ("Mexico", "Jalisco", "es-MX,es;q=0.9,en;q=0.8"),
        ("Spain", "Madrid", "es-ES,es;q=0.9"),
        ("Argentina", "Buenos Aires F.D.", "es-AR,es;q=0.9,en;q=0.8"),
    ],
    "French": [
        ("France", "Île-de-France", "fr-FR,fr;q=0.9,en-US;q=0.8,en;q=0.7"),
        ("Canada", "Quebec", "fr-CA,fr;q=0.9,en-CA;q=0.8"),
        ("Belgium", "Brussels Capital", "fr-BE,fr;q=0.9,nl;q=0.8"),
    ],
    "German": [
        ("Germany", "Bavaria", "de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7"),
        ("Austria", "Vienna", "de-AT,de;q=0.9"),
        ("Switzerland", "Zurich", "de-CH,de;q=0.9,en;q=0.8"),
    ],
    "Portuguese": [
        ("Brazil", "São Paulo", "pt-BR,pt;q=0.9,en-US;q=0.8,en;q=0.7"),
        ("Portugal", "Lisbon", "pt-PT,pt;q=0.9,en;q=0.8"),
    ],
}

# Locales of the languages only the realistic set uses (the demo set's rows do not depend on these).
REALISTIC_LOCALES = {
    "Arabic": [("Saudi Arabia", "Riyadh Region", "ar-SA,ar;q=0.9,en-US;q=0.8,en;q=0.7"),
               ("Egypt", "Cairo Governorate", "ar-EG,ar;q=0.9,en;q=0.8")],
    "Hindi": [("India", "Uttar Pradesh", "hi-IN,hi;q=0.9,en-IN;q=0.8,en;q=0.7"), ("India", "Delhi", "en-IN,hi;q=0.9")],
    "Japanese": [("Japan", "Tokyo", "ja-JP,ja;q=0.9"), ("Japan", "Osaka", "ja,en-US;q=0.9,en;q=0.8")],
}

USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/112.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.4 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/113.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:109.0) Gecko/20100101 Firefox/113.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.0.0 Safari/537.36",
]

OPENAI_CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)
DETOXIFY_FIELDS = (
    "identity_attack",
    "insult",
    "obscene",
    "severe_toxicity",
    "sexual_explicit",
    "threat",
    "toxicity",
)

# --------------------------------------------------------------------------------------------------------------
# The long pasted essay (edge case c): ~2,500 words of varied prose, written for this demo.
# --------------------------------------------------------------------------------------------------------------
ESSAY_PARAGRAPHS = [
    "Rivers in the City: A Short History of Loss and Return",
    "For most of human history, the decision about where to build a city was really a decision about water. "
    "Early settlements along the Tigris, the Euphrates, the Nile, the Indus and the Yellow River grew because "
    "rivers offered drinking water, fertile floodplains, fish, and a road that required no paving. A river "
    "carried grain downstream to markets and carried news, soldiers and ideas back up again. When archaeologists "
    "map the oldest urban cores in Europe, Asia and Africa, they repeatedly find that the first streets ran "
    "parallel to a bank or climbed gently away from a ford. The river was not a decorative feature in these "
    "places; it was the reason the place existed at all. Even the names of many cities preserve this memory, "
    "pointing to a crossing, a confluence, a bend or a harbor. To understand how modern cities treat their "
    "rivers, it helps to remember how completely their ancestors depended on them.",
    "Medieval towns inherited this dependence and added new uses. Water wheels ground flour, fulled cloth, "
    "sawed timber and powered bellows for smiths. Tanners, dyers and butchers clustered along the banks because "
    "they needed large volumes of water and a convenient place to get rid of waste. Bridges became commercial "
    "spaces lined with shops, and the tolls collected on them paid for walls, churches and markets. At the same "
    "time, the river was a source of danger. Floods regularly destroyed houses built too close to the water, and "
    "outbreaks of disease followed the contamination of wells and streams. Town councils passed ordinances about "
    "where refuse could be thrown and which trades could operate upstream of the drinking water intakes, but "
    "enforcement was weak. The relationship between the town and its river was already a negotiation between "
    "usefulness and risk, a theme that would grow sharper over the next several centuries.",
    "The industrial revolution changed the scale of that negotiation. Factories needed water for steam engines, "
    "for cooling, for washing raw materials and for carrying away chemical waste. Canals were dug to connect "
    "rivers to coalfields and ports, and the banks of older rivers were straightened, walled and lined with "
    "warehouses. Populations in manufacturing cities doubled and doubled again within a few decades, and the "
    "sewage of hundreds of thousands of people flowed, often untreated, into the same channels that supplied "
    "drinking water. The consequences were severe. Cholera epidemics swept through London, Hamburg, Chicago and "
    "many other cities during the nineteenth century. In the summer of 1858, the stench from the Thames became so "
    "overpowering that Parliament, meeting beside the river, finally approved funding for a comprehensive sewer "
    "system. That event, remembered as the Great Stink, is often cited as the moment when city governments "
    "accepted that rivers required engineering on a metropolitan scale.",
    "The engineering response was impressive, but it came with a cost that was not fully recognized at the time. "
    "Intercepting sewers, embankments and pumping stations did reduce disease, and they are among the great "
    "public health achievements of the modern era. Yet the same mindset that produced these systems also "
    "encouraged engineers to treat smaller streams as problems to be solved rather than features to be valued. "
    "Across Europe and North America, creeks that had become polluted or inconvenient were culverted, buried "
    "beneath streets and incorporated into storm drains. Cities such as London lost dozens of tributaries in this "
    "way; the Fleet, the Tyburn and the Westbourne still flow, but almost entirely underground. Residents who walk "
    "above them today may notice only a dip in the road or a street name that mentions a brook. What had once "
    "been a visible part of the urban landscape became an invisible piece of infrastructure.",
    "The twentieth century extended this logic further. As cars became the dominant form of transport, "
    "riverbanks offered long, flat, publicly owned corridors that planners found ideal for highways. Expressways "
    "were built along the waterfronts of cities from Seoul to Boston to Lyon, separating neighborhoods from the "
    "water with concrete, noise and traffic. Ports moved away from city centers to deeper water and larger "
    "container terminals, leaving behind empty docks and rail yards. Flood control agencies lined rivers with "
    "concrete channels designed to move stormwater out of the city as quickly as possible. The Los Angeles River "
    "is perhaps the most famous example: after catastrophic floods in the 1930s, the Army Corps of Engineers "
    "encased most of its length in concrete, creating a channel so stark that many residents did not realize it "
    "was a river at all. By the 1960s, the typical urban river was fast, straight, fenced and largely ignored.",
    "Change began slowly, driven first by concern about pollution. In the United States, the Cuyahoga River in "
    "Cleveland caught fire several times, most notoriously in 1969, when oil-soaked debris on its surface "
    "ignited. The images that followed helped build support for the Clean Water Act of 1972, which set national "
    "limits on industrial discharges and funded new treatment plants. Similar legislation appeared in Europe and "
    "Japan, and over the following decades water quality in many rivers improved dramatically. Fish returned to "
    "stretches that had been declared biologically dead. The Thames, once described as lifeless, now supports "
    "seals, seahorses and more than a hundred species of fish. These recoveries did not happen by accident; they "
    "were the result of sustained public investment, stricter regulation and monitoring, and the steady work of "
    "scientists and inspectors whose names rarely appear in newspapers.",
    "Cleaner water made it possible to imagine a different relationship between cities and rivers. Planners "
    "began to ask whether waterfronts could serve people rather than only traffic and cargo. Former industrial "
    "docks in cities such as Baltimore, Barcelona and Hamburg were redeveloped as mixed areas of housing, offices, "
    "museums and promenades. Some of these projects have been criticized for favoring expensive apartments and "
    "tourism over existing residents, and the debate about who benefits from waterfront renewal continues. "
    "Nonetheless, they demonstrated that a riverbank could be a destination. Riverside paths, once rare, became "
    "standard features of urban plans, and cycling and walking routes were stitched together along banks that "
    "had been closed to the public for generations. In many cities, the most popular new public spaces of the "
    "past thirty years are located beside water.",
    "The most dramatic projects have gone further, removing the structures that buried or hid rivers. In Seoul, "
    "the Cheonggyecheon stream had been covered by a road in the 1950s and then by an elevated highway in the "
    "1970s. In 2003 the city began demolishing the highway and restoring the stream as a linear park nearly six "
    "kilometers long. The project was expensive and controversial, and the water that flows through it today is "
    "partly pumped from the Han River, so critics argue it is more of a landscaped channel than a natural stream. "
    "Even so, it became one of the most visited places in the city, lowered summer temperatures in the "
    "surrounding area, and changed the way other governments thought about urban highways. Its influence can be "
    "seen in proposals from Mexico City to Madrid, where similar projects have replaced traffic lanes with water, "
    "trees and pedestrians.",
    "The practice of uncovering buried streams is sometimes called daylighting. It ranges from ambitious public "
    "works to small neighborhood efforts that open a few dozen meters of culvert in a park or schoolyard. In "
    "Zurich, a long-term program has brought many kilometers of small streams back to the surface since the "
    "1980s, partly by redirecting clean water that was previously sent to treatment plants unnecessarily. In "
    "Yonkers, New York, a section of the Saw Mill River was uncovered beneath a downtown parking lot, creating a "
    "small park and habitat for fish such as the American eel. Sheffield in England has restored portions of "
    "rivers that once powered its steel industry. These projects rarely return a stream to a truly wild state, "
    "but they reintroduce light, air and living things to places where water had been reduced to a pipe.",
    "Alongside the aesthetic and social arguments, a practical motivation has become increasingly important: "
    "flooding. The concrete channels and culverts built in the twentieth century were designed for the rainfall "
    "patterns of the time, and many are now undersized. Climate change is bringing heavier downpours to many "
    "regions, and cities have expanded over land that once absorbed rain. When water cannot soak into the "
    "ground, it races across roofs and pavements into drains that quickly overflow. Engineers increasingly argue "
    "that hard infrastructure alone cannot solve this problem. Instead, they recommend giving rivers more room, "
    "restoring floodplains, and building parks that are designed to flood safely during storms. The Dutch "
    "program known as Room for the River lowered floodplains, moved dikes back and created side channels at more "
    "than thirty locations, accepting that water would occasionally occupy land rather than fighting it at every "
    "point.",
    "Cities have adopted smaller versions of this approach under names such as green infrastructure, sponge "
    "cities and nature-based solutions. China launched a national sponge city program in 2015, asking pilot "
    "cities to absorb and reuse a large share of their rainfall through permeable pavements, wetlands, green "
    "roofs and retention ponds. Copenhagen developed a cloudburst plan after a severe storm in 2011 flooded "
    "basements and caused damage worth hundreds of millions of euros; the plan redesigns streets and squares so "
    "that they can channel water toward the harbor during extreme events. In Philadelphia, a long-term program "
    "called Green City, Clean Waters uses rain gardens and tree trenches to reduce overflows from the combined "
    "sewer system. Results vary, and some projects have struggled with maintenance, but the general direction is "
    "clear: cities are learning to slow water down rather than rush it away.",
    "Restoring urban rivers is not simply a technical exercise, however. Waterfront improvements can raise "
    "property values and rents, and residents who lived beside a polluted river for decades may find themselves "
    "unable to afford the neighborhood once it becomes attractive. Researchers sometimes call this green "
    "gentrification. Community groups have responded by pushing for affordable housing requirements, local "
    "hiring and public ownership of land near restored waterways. In Los Angeles, where plans to revitalize the "
    "river have been discussed for years, advocates have emphasized that the river passes through some of the "
    "region's poorest and most polluted neighborhoods, and that these communities should shape the project rather "
    "than be displaced by it. The question of who a river belongs to is as old as cities themselves, and it "
    "remains unresolved.",
    "There are ecological questions too. A restored channel with planted banks looks natural, but it may not "
    "function like a natural river. Urban streams often suffer from what ecologists call urban stream syndrome: "
    "flashy flows that rise and fall rapidly after rain, elevated nutrients and contaminants, warmer "
    "temperatures, and reduced biological diversity. Simply removing concrete does not fix these problems if the "
    "surrounding watershed remains covered in pavement. Successful restoration usually requires work across an "
    "entire catchment, including reducing impervious surfaces, managing runoff at its source, and controlling "
    "pollution from roads and old industrial sites. This makes river restoration a long-term commitment rather "
    "than a single construction project, and it requires cooperation among agencies that have traditionally "
    "worked separately, such as transport, parks, water utilities and housing authorities.",
    "Public participation has become a central part of many river projects, partly because rivers have a way of "
    "creating attachment. Volunteer groups organize cleanups, monitor water quality, and record sightings of "
    "birds and fish. Schools use nearby streams for science lessons. Artists and historians have recovered the "
    "stories of lost rivers through maps, walking tours and installations that mark the path of buried water. In "
    "London, enthusiasts trace the course of the underground tributaries and campaign for sections to be "
    "uncovered. In Paris, the long-standing ban on swimming in the Seine was challenged by a major cleanup effort "
    "connected to the 2024 Olympic Games, and the city has announced plans to open public bathing sites. Whether "
    "or not such goals are fully achieved, they show how a river can become a shared civic project that connects "
    "generations of residents.",
    "Looking ahead, cities face difficult choices. Restored rivers and green infrastructure require space, and "
    "urban land is expensive. Maintenance budgets are often the first to be cut in difficult years, and a "
    "neglected rain garden or a silted channel can quickly lose public support. Some engineers worry that "
    "nature-based solutions are being promoted faster than the evidence about their long-term performance is "
    "accumulating. At the same time, the costs of inaction are rising. Flood damages in urban areas have "
    "increased substantially in recent decades, and heat waves make shaded, cool waterside spaces more valuable "
    "for public health. Many experts now argue that the choice is not between gray and green infrastructure, but "
    "about combining pipes, pumps and walls with wetlands, parks and open channels in ways that are carefully "
    "designed, monitored and adjusted over time.",
    "Economists have tried to put numbers on these benefits, with mixed success. Some studies estimate the "
    "value of a restored river by comparing house prices at different distances from the water, while others "
    "survey residents about how much they would be willing to pay for cleaner streams or new riverside parks. "
    "Health researchers point to lower rates of stress and higher levels of physical activity among people who "
    "live near accessible green and blue spaces, although separating cause from correlation is difficult. "
    "Insurance companies, for their part, have begun to include natural flood defenses in their risk models. None "
    "of these methods captures everything that people value about a river, such as the pleasure of watching "
    "light on moving water or the sense of continuity that comes from walking a path used by earlier "
    "generations, but together they have helped convince budget officials that restoration is more than a "
    "luxury.",
    "The history of urban rivers is therefore not a simple story of decline followed by recovery. It is a story "
    "of changing priorities. Cities first relied on rivers for survival, then exploited them for industry, then "
    "hid them for convenience and safety, and are now trying, unevenly, to bring them back into daily life. Each "
    "phase left physical traces that later generations must work with: walls, culverts, highways, treatment "
    "plants and parks. The rivers themselves have proven remarkably resilient, returning to life when given even "
    "modest opportunities. Whether the current wave of restoration produces lasting benefits will depend less on "
    "spectacular showcase projects than on patient, careful work in ordinary neighborhoods, and on decisions "
    "about who gets to enjoy the water once it is clean. In that sense, the oldest question of urban life, how to "
    "live well beside a river, remains a very modern one.",
]
ESSAY = "\n\n".join(ESSAY_PARAGRAPHS)

# --------------------------------------------------------------------------------------------------------------
# Conversations. Each entry: (language, [user, assistant, user, assistant, ...], tag). `tag` is internal only
# (never written): "dup" reuses the conversation_hash of the previous "dup" row; "edge-*" mark the edge cases
# for the README. Models: every 4th conversation is gpt-4-0314, the rest gpt-3.5-turbo-0613.
# --------------------------------------------------------------------------------------------------------------
CONVERSATIONS: list[tuple[str, list[str], str | None]] = [
    # ---- English, single turn ----------------------------------------------------------------------------------
    ("English", [
        "How do I reverse a list in Python?",
        "You can reverse a list in place with `my_list.reverse()`, or get a reversed copy with slicing: "
        "`my_list[::-1]`. If you only need to loop backwards, `reversed(my_list)` returns an iterator without "
        "copying the list.",
    ], None),
    ("English", [
        "write a short poem about the ocean",
        "Beneath the silver morning light,\nThe restless waves roll in and out,\nThey whisper secrets, old and "
        "bright,\nOf distant shores and storms about.",
    ], "dup"),
    ("English", [
        "What is the difference between a virus and a bacterium?",
        "**Bacteria** are single-celled living organisms that can reproduce on their own, and many are harmless or "
        "even helpful. **Viruses** are much smaller, are not cells, and can only multiply inside a host's cells. "
        "That is why antibiotics work against bacteria but not against viruses.",
    ], None),
    ("English", [
        "Give me 5 name ideas for a bakery that sells sourdough bread",
        "Here are five ideas:\n\n1. **Rise & Crust**\n2. **The Wild Yeast**\n3. **Sour Hour Bakery**\n"
        "4. **Starter & Co.**\n5. **Golden Loaf**",
    ], None),
    ("English", [
        "solve for x: 3x + 7 = 22",
        "Subtract 7 from both sides to get 3x = 15, then divide both sides by 3. So **x = 5**.",
    ], None),
    ("English", [
        "Translate 'Where is the train station?' into Japanese",
        "「駅はどこですか？」(*Eki wa doko desu ka?*) is the natural way to ask. To be extra polite, you can start "
        "with 「すみません」(*Sumimasen*, \"Excuse me\").",
    ], None),
    ("English", [
        "Can you explain what a REST API is in simple terms?",
        "A REST API is a way for programs to talk to each other over the web using ordinary HTTP requests. You "
        "send a request to a URL (for example `GET /users/42`) and the server replies with data, usually JSON. "
        "Each URL represents a resource, and the HTTP verb (GET, POST, PUT, DELETE) says what you want to do "
        "with it.",
    ], None),
    ("English", [
        "I have a job interview tomorrow for a barista position. Any tips?",
        "Good luck! A few tips:\n\n- **Research the café**: know their menu and what makes them unique.\n"
        "- **Show friendliness**: customer service matters as much as coffee skills.\n"
        "- **Be honest about experience**: enthusiasm to learn goes a long way.\n"
        "- **Arrive a little early** and dress neatly.",
    ], None),
    ("English", [
        "What year did the Berlin Wall fall?",
        "The Berlin Wall fell on **November 9, 1989**, when East German authorities opened the border crossings. "
        "Germany was formally reunified less than a year later, on October 3, 1990.",
    ], None),
    ("English", [
        "Write a SQL query that returns the top 3 customers by total order amount. Tables: customers(id, name), "
        "orders(id, customer_id, amount)",
        "```sql\nSELECT c.id, c.name, SUM(o.amount) AS total_amount\nFROM customers c\nJOIN orders o ON "
        "o.customer_id = c.id\nGROUP BY c.id, c.name\nORDER BY total_amount DESC\nLIMIT 3;\n```\nThis joins the "
        "two tables, sums the order amounts per customer and keeps the three largest totals.",
    ], None),
    ("English", [
        "You are a pirate captain. Greet your new crew member.",
        "Arr, welcome aboard the *Salty Gull*, ye fresh-faced landlubber! Stow yer gear below deck, learn the "
        "ropes quick, and never touch the captain's rum. Do yer share and ye'll have yer share of the treasure!",
    ], None),
    ("English", [
        "What's a good way to memorize vocabulary for a language exam?",
        "Try these methods:\n\n1. **Spaced repetition** with flashcards (for example Anki).\n2. **Use new words in "
        "sentences** that mean something to you.\n3. **Group words by topic** instead of learning random lists.\n"
        "4. **Review a little every day** rather than cramming.",
    ], None),
    ("English", [
        "Rewrite this sentence to sound more professional: hey, i cant make it to the meeting, something came up",
        "Hello, unfortunately I will be unable to attend the meeting due to an unexpected commitment. Please let "
        "me know if I can review the notes or follow up afterward.",
    ], None),
    ("English", [
        "How many minutes are in a week?",
        "There are 7 × 24 × 60 = **10,080 minutes** in a week.",
    ], None),
    ("English", [
        "Can you summarize this essay in 5 bullet points? I need it for class tomorrow.\n\n" + ESSAY,
        "Here is a five-point summary:\n\n- **Origins**: cities were founded beside rivers, which supplied water, "
        "food, power and transport.\n- **Industrial damage**: industry and sewage polluted rivers, causing "
        "epidemics and leading to large sewer systems and buried streams.\n- **Car era**: highways, concrete "
        "channels and abandoned docks cut cities off from their rivers in the 20th century.\n- **Recovery**: "
        "clean-water laws, waterfront redevelopment, daylighting and flood-management programs have brought rivers "
        "back.\n- **Open questions**: restoration raises issues of cost, ecology, maintenance and who benefits, "
        "so it needs long-term, inclusive planning.",
    ], "edge-long"),
    ("English", [
        "What causes the seasons on Earth?",
        "The seasons are caused by the **tilt of Earth's axis** (about 23.5°), not by its distance from the Sun. "
        "As Earth orbits, each hemisphere takes turns leaning toward the Sun, receiving more direct sunlight and "
        "longer days in summer.",
    ], None),
    ("English", [
        "Explain the difference between let, const and var in JavaScript",
        "- `var` is function-scoped and can be redeclared; it is hoisted and initialized as `undefined`.\n"
        "- `let` is block-scoped and can be reassigned but not redeclared in the same scope.\n"
        "- `const` is block-scoped and cannot be reassigned, although objects it points to can still be mutated.",
    ], None),
    ("English", [
        "Write a two-sentence horror story.",
        "I heard my mom calling me from the kitchen, so I ran downstairs. Halfway there, she pulled me into the "
        "closet and whispered, \"I heard it too.\"",
    ], None),
    ("English", [
        "Is it safe to eat raw cookie dough?",
        "It's not recommended. Raw dough can contain **raw eggs** (risk of salmonella) and **uncooked flour** "
        "(risk of E. coli). If you love it, look for edible cookie dough made with heat-treated flour and no eggs.",
    ], None),
    ("English", [
        "What is the derivative of x^3 * sin(x)?",
        "Using the product rule: d/dx [x³ sin x] = 3x² sin x + x³ cos x.",
    ], None),
    ("English", [
        "Suggest a 3-day itinerary for Rome",
        "**Day 1:** Colosseum, Roman Forum and Palatine Hill, then dinner in Monti.\n**Day 2:** Vatican Museums, "
        "Sistine Chapel and St. Peter's Basilica, evening in Trastevere.\n**Day 3:** Pantheon, Trevi Fountain, "
        "Spanish Steps and a gelato stop in Piazza Navona.",
    ], None),
    ("English", [
        "Who wrote Pride and Prejudice?",
        "*Pride and Prejudice* was written by **Jane Austen** and first published in 1813.",
    ], None),
    ("English", [
        "My python script says 'IndentationError: unexpected indent'. What does that mean?",
        "It means a line is indented more than Python expects, for example a line that starts with spaces "
        "outside any block, or a mix of tabs and spaces. Check the line number in the error, make the "
        "indentation consistent (4 spaces per level is the convention) and the error should go away.",
    ], None),
    ("English", [
        "Write a product description for a stainless steel water bottle, under 50 words.",
        "Stay refreshed anywhere with our double-walled stainless steel bottle. It keeps drinks cold for 24 hours "
        "and hot for 12, never sweats, and fits most cup holders. Leak-proof, BPA-free and built to last, it's "
        "the only bottle you'll need.",
    ], None),
    ("English", [
        "act as my grandmother and tell me a bedtime story about a brave little fox",
        "Oh, come here, sweetheart, let Grandma tuck you in. Once upon a time, a little fox named Pip lived at the "
        "edge of a snowy forest. One night the wind blew out every lantern in the village, and Pip carried a "
        "glowing firefly through the dark so the lost children could find their way home. Now close your eyes, "
        "my brave little one.",
    ], None),
    ("English", [
        "What is the square root of 144?",
        "The square root of 144 is **12**, because 12 × 12 = 144.",
    ], None),
    ("English", [
        "How do I center a div in CSS?",
        "The simplest modern way is flexbox on the parent:\n\n```css\n.parent {\n  display: flex;\n  "
        "justify-content: center;\n  align-items: center;\n}\n```\nThis centers the child both horizontally and "
        "vertically.",
    ], None),
    ("English", [
        "Summarize the plot of Romeo and Juliet in three sentences.",
        "Two young lovers from feuding families in Verona, Romeo Montague and Juliet Capulet, secretly marry. "
        "After Romeo is banished for killing Juliet's cousin, Juliet fakes her death to escape an arranged "
        "marriage. The plan goes wrong, both lovers die, and their deaths finally reconcile the two families.",
    ], None),
    ("English", [
        "What are the pros and cons of working from home?",
        "**Pros:**\n- No commute\n- Flexible schedule\n- Fewer office distractions\n\n**Cons:**\n- Isolation "
        "from colleagues\n- Blurred line between work and home\n- Harder to get quick help",
    ], None),
    ("English", [
        "Convert 72 degrees Fahrenheit to Celsius.",
        "Use °C = (°F − 32) × 5/9. So (72 − 32) × 5/9 = 40 × 5/9 ≈ **22.2 °C**.",
    ], None),
    ("English", [
        "what git command undoes the last commit but keeps my changes",
        "Use `git reset --soft HEAD~1`. It removes the last commit but keeps your changes staged. Use "
        "`git reset HEAD~1` instead if you want them unstaged.",
    ], None),
    ("English", [
        "What is the tallest mountain in Africa?",
        "The tallest mountain in Africa is **Mount Kilimanjaro** in Tanzania, at about 5,895 meters (19,341 feet).",
    ], None),
    ("English", [
        "Give me a motivational quote for Monday morning.",
        "\"Small steps every day add up to big results.\" Start with one task, finish it, and let the momentum "
        "carry you through the week!",
    ], None),
    ("English", [
        "Explain photosynthesis to a 10 year old.",
        "Plants make their own food using sunlight! They take in water through their roots and carbon dioxide "
        "from the air, and with the energy of sunlight they turn these into sugar. As a bonus, they release "
        "oxygen, which is what we breathe.",
    ], None),
    ("English", [
        "write a short poem about the ocean",
        "The ocean hums a lullaby,\nBeneath a wide and endless sky,\nIts tides arrive and slip away,\nLike "
        "dreams that fade at break of day.",
    ], "dup"),
    # ---- English, multi turn -----------------------------------------------------------------------------------
    ("English", [
        "What is a prime number?",
        "A prime number is a whole number greater than 1 whose only divisors are 1 and itself, such as 2, 3, 5, "
        "7 and 11.",
        "Is 91 prime?",
        "No. 91 = 7 × 13, so it is not prime, even though it looks like it might be.",
    ], None),
    ("English", [
        "Write a haiku about coffee",
        "Dark steam curls upward,\nbitter warmth in quiet hands,\nthe day wakes with me.",
        "Now make it about tea",
        "Green leaves slowly steep,\na pale gold calm fills the cup,\nthe kettle whispers.",
    ], None),
    ("English", [
        "I want to start running. How should I begin?",
        "Start with a **run-walk** approach: for example, alternate 1 minute of easy running with 2 minutes of "
        "walking for 20 minutes. Get comfortable shoes and increase running time gradually over a few weeks.",
        "How many times a week should I run?",
        "Three times a week is a good start, with a rest day in between. That gives your muscles and joints "
        "time to adapt.",
        "What should I eat before a run?",
        "Eat something light and easy to digest 1–2 hours before, like a banana, toast with peanut butter or a "
        "small bowl of oatmeal. Avoid heavy, fatty or very fiber-rich meals right before running.",
    ], "edge-3turns"),
    ("English", [
        "Help me write an email to my landlord about a broken heater",
        "Subject: Heater Repair Request\n\nDear [Landlord's Name],\n\nI'm writing to let you know that the "
        "heater in my apartment stopped working on [date]. Could you please arrange a repair at your earliest "
        "convenience?\n\nThank you,\n[Your Name]",
        "Make it a bit more urgent",
        "Subject: Urgent: Heater Not Working\n\nDear [Landlord's Name],\n\nThe heater in my apartment has not "
        "worked since [date], and with temperatures dropping the apartment is becoming very cold. Please arrange "
        "a repair within the next 24–48 hours.\n\nThank you for your prompt attention,\n[Your Name]",
    ], None),
    ("English", [
        "What does HTTP 404 mean?",
        "HTTP 404 means **Not Found**: the server is reachable, but the page or resource you asked for does not "
        "exist at that URL.",
        "And 503?",
        "HTTP 503 means **Service Unavailable**: the server is temporarily unable to handle the request, often "
        "because it is overloaded or down for maintenance.",
    ], None),
    ("English", [
        "Let's play a text adventure. I'm standing at the edge of a dark forest.",
        "The trees loom tall and silent. A narrow dirt path leads north into the darkness, and at your feet lies "
        "an unlit torch. What do you do?",
        "I light the torch.",
        "The torch flares to life, throwing flickering shadows across the trunks. You notice strange symbols "
        "carved into the nearest tree.",
        "I follow the path north.",
        "After a few minutes the path opens onto a clearing with an old stone well. From deep inside it, you hear "
        "someone faintly calling for help.",
    ], None),
    ("English", [
        "How do I read a CSV file in pandas?",
        "```python\nimport pandas as pd\n\ndf = pd.read_csv(\"data.csv\")\nprint(df.head())\n```",
        "How do I only load the first 100 rows?",
        "Pass `nrows`: `pd.read_csv(\"data.csv\", nrows=100)`.",
    ], None),
    ("English", [
        "Can you recommend a good sci-fi book?",
        "Try **The Left Hand of Darkness** by Ursula K. Le Guin. It's a thoughtful classic about an envoy on an "
        "icy planet whose people have no fixed gender.",
        "I've already read that one. Something shorter?",
    ], "edge-odd"),
    ("English", [
        "",
        "Hello! How can I assist you today?",
        "write a haiku about autumn rain",
        "Cold rain on red leaves,\npuddles hold a paler sky,\nthe street smells of earth.",
    ], "edge-empty"),
    ("English", [
        "What is 15% of 80?",
        "15% of 80 is 0.15 × 80 = **12**.",
        "And 20% of that?",
        "20% of 12 is 0.2 × 12 = **2.4**.",
        "Add them together",
        "12 + 2.4 = **14.4**.",
    ], None),
    ("English", [
        "What is the capital of Canada?",
        "The capital of Canada is **Ottawa**, in the province of Ontario.",
        "What's its population roughly?",
        "The city of Ottawa has roughly one million people, and the wider Ottawa–Gatineau area has about 1.5 "
        "million.",
    ], None),
    ("English", [
        "Explain recursion",
        "Recursion is when a function solves a problem by calling itself on a smaller version of the same "
        "problem, until it reaches a simple **base case** that it can answer directly.",
        "Show me an example in Python",
        "```python\ndef factorial(n):\n    if n <= 1:  # base case\n        return 1\n    return n * "
        "factorial(n - 1)\n```\n`factorial(5)` returns 120.",
    ], None),
    ("English", [
        "My cat keeps scratching the sofa. What can I do?",
        "Scratching is natural, so give her a better option: put a sturdy **scratching post** right next to the "
        "sofa, reward her when she uses it, and keep her claws trimmed.",
        "She ignores the scratching post.",
        "Try a different texture (sisal rope or cardboard), make sure the post is tall and doesn't wobble, and "
        "rub some catnip on it. Playing with a toy near the post can also draw her to it.",
        "Is double-sided tape safe for cats?",
        "Yes, double-sided tape on the sofa is a common, safe deterrent. Cats dislike the sticky feeling, and it "
        "doesn't hurt them. Remove it gradually once she's using the post.",
    ], None),
    ("English", [
        "Translate 'good morning' into Italian",
        "\"Good morning\" in Italian is **\"Buongiorno\"**.",
        "And 'good night'?",
        "\"Good night\" is **\"Buonanotte\"**.",
    ], None),
    ("English", [
        "Write a tweet announcing our new coffee shop opening on Saturday",
        "Big news! Our doors open this Saturday at 8 AM. Come by for fresh espresso, homemade pastries and a free "
        "cookie with your first order. See you there! #GrandOpening #CoffeeLovers",
        "Add some emojis",
        "☕ Big news! Our doors open this Saturday at 8 AM 🎉 Come by for fresh espresso, homemade pastries 🥐 and "
        "a free cookie 🍪 with your first order. See you there! #GrandOpening #CoffeeLovers",
    ], None),
    ("English", [
        "What is the boiling point of water?",
        "At sea level, water boils at **100 °C** (212 °F).",
        "What about on Mount Everest?",
        "On the summit of Everest, water boils at only about **70 °C** (158 °F).",
        "Why is it lower?",
        "Because air pressure is much lower at high altitude. Water boils when its vapor pressure equals the "
        "surrounding pressure, so less heat is needed to reach that point.",
    ], None),
    ("English", [
        "Give me a regex that matches a US zip code",
        "`^\\d{5}(-\\d{4})?$` matches a five-digit zip code with an optional four-digit extension, like "
        "`12345` or `12345-6789`.",
        "Does it match 12345-678?",
        "No. The extension must have exactly four digits, so `12345-678` does not match.",
    ], None),
    ("English", [
        "Tell me a joke about programmers",
        "Why do programmers prefer dark mode? Because light attracts bugs! 🐛",
        "Another one",
        "A programmer's partner says, \"Buy a loaf of bread, and if they have eggs, get a dozen.\" "
        "He comes home with 12 loaves of bread.",
    ], None),
    # ---- Chinese -----------------------------------------------------------------------------------------------
    ("Chinese", [
        "用Python写一个计算斐波那契数列的函数",
        "```python\ndef fibonacci(n):\n    a, b = 0, 1\n    result = []\n    for _ in range(n):\n        "
        "result.append(a)\n        a, b = b, a + b\n    return result\n```\n这个函数返回前 n 个斐波那契数，例如 "
        "`fibonacci(6)` 返回 `[0, 1, 1, 2, 3, 5]`。",
    ], None),
    ("Chinese", [
        "帮我写一段生日祝福，送给我的妈妈",
        "亲爱的妈妈，生日快乐！谢谢您这么多年来无微不至的照顾和无条件的爱。愿您身体健康，笑容常在，每一天都幸福快乐！",
    ], None),
    ("Chinese", [
        "北京有哪些必去的景点？",
        "北京的必去景点包括：\n\n1. **故宫**\n2. **天安门广场**\n3. **八达岭长城**\n4. **颐和园**\n5. **天坛**",
        "故宫需要提前预约吗？",
        "需要。故宫实行实名制预约购票，建议通过官方网站或小程序提前几天预约，节假日更要尽早。另外，故宫每周一闭馆（法定节假日除外）。",
    ], None),
    ("Chinese", [
        "什么是机器学习？请简单解释。",
        "机器学习是人工智能的一个分支，让计算机通过数据自动学习规律，而不是由人逐条编写规则。比如给模型看大量猫和狗的照片，它就能学会分辨新的照片里是猫还是狗。",
    ], None),
    # ---- Russian -----------------------------------------------------------------------------------------------
    ("Russian", [
        "Напиши короткое стихотворение о зиме",
        "Зима укрыла всё вокруг\nПушистым белым одеялом,\nИ тишина, как верный друг,\nСтоит над спящим "
        "покрывалом.",
    ], None),
    ("Russian", [
        "Как выучить английский язык быстрее?",
        "Несколько советов:\n\n- **Занимайтесь каждый день**, даже по 20–30 минут.\n- **Смотрите фильмы и "
        "сериалы** с английскими субтитрами.\n- **Говорите** с носителями или с репетитором.\n- **Учите слова в "
        "контексте**, а не списками.",
        "Сколько времени в день нужно заниматься?",
        "Оптимально 30–60 минут в день. Регулярность важнее длительности: полчаса каждый день дадут больше, чем "
        "пять часов раз в неделю.",
    ], None),
    ("Russian", [
        "Сколько будет 17 умножить на 6?",
        "17 × 6 = **102**.",
    ], None),
    ("Russian", [
        "Помоги составить план тренировок для новичка",
        "Вот простой план на неделю:\n\n- **Понедельник**: приседания, отжимания, планка.\n- **Среда**: "
        "30 минут быстрой ходьбы или бега.\n- **Пятница**: выпады, тяга гантелей, скручивания.",
        "У меня нет гантелей",
        "Не страшно! Вместо гантелей можно использовать бутылки с водой или рюкзак с книгами, либо заменить "
        "тягу на упражнения с собственным весом, например обратные отжимания от стула.",
        "Сколько подходов делать?",
        "Для начала делайте 2–3 подхода по 10–15 повторений с отдыхом около минуты между подходами.",
    ], None),
    # ---- Spanish -----------------------------------------------------------------------------------------------
    ("Spanish", [
        "¿Cuál es la diferencia entre 'ser' y 'estar'?",
        "**Ser** se usa para características permanentes o esenciales (\"Ella es alta\"), y **estar** para "
        "estados temporales o ubicaciones (\"Ella está cansada\", \"Estoy en casa\").",
    ], None),
    ("Spanish", [
        "Escribe una receta sencilla de tortilla de patatas",
        "**Ingredientes:** 4 patatas, 5 huevos, 1 cebolla, aceite de oliva y sal.\n\n1. Pela y corta las patatas "
        "y la cebolla en láminas finas.\n2. Fríelas a fuego medio hasta que estén tiernas.\n3. Bate los huevos, "
        "añade las patatas escurridas y sal.\n4. Cuaja la mezcla en la sartén y dale la vuelta con un plato.",
    ], None),
    ("Spanish", [
        "¿Qué es la inflación?",
        "La inflación es el aumento generalizado y sostenido de los precios de bienes y servicios en una economía "
        "durante un período de tiempo.",
        "¿Y cómo afecta a los ahorros?",
        "Reduce su poder adquisitivo: si tus ahorros rinden menos que la inflación, con el mismo dinero podrás "
        "comprar menos cosas en el futuro.",
    ], None),
    ("Spanish", [
        "Traduce al inglés: 'Me gustaría reservar una mesa para dos personas'",
        "\"I would like to book a table for two people.\"",
    ], None),
    # ---- French ------------------------------------------------------------------------------------------------
    ("French", [
        "Peux-tu m'expliquer la photosynthèse simplement ?",
        "La photosynthèse est le processus par lequel les plantes utilisent la lumière du soleil pour transformer "
        "l'eau et le dioxyde de carbone en sucre. Elles rejettent de l'oxygène au passage.",
    ], None),
    ("French", [
        "Écris une lettre de motivation courte pour un stage en marketing",
        "Madame, Monsieur,\n\nÉtudiant(e) en école de commerce, je souhaite rejoindre votre équipe marketing pour "
        "un stage de six mois. Créatif(ve) et rigoureux(se), je serais ravi(e) de mettre mes compétences en "
        "communication au service de vos projets.\n\nCordialement,\n[Votre nom]",
        "Rends-la plus formelle",
        "Madame, Monsieur,\n\nActuellement étudiant(e) en école de commerce, j'ai l'honneur de vous soumettre ma "
        "candidature pour un stage de six mois au sein de votre service marketing. Je vous prie d'agréer, Madame, "
        "Monsieur, l'expression de mes salutations distinguées.\n\n[Votre nom]",
    ], None),
    ("French", [
        "Quelle est la capitale de l'Australie ?",
        "La capitale de l'Australie est **Canberra**, et non Sydney comme on le pense souvent.",
    ], None),
    ("French", [
        "Donne-moi trois idées de dîner végétarien rapides",
        "1. **Omelette aux légumes** et salade verte\n2. **Pâtes au pesto**, tomates cerises et mozzarella\n"
        "3. **Curry de pois chiches** au lait de coco avec du riz",
    ], None),
    # ---- German ------------------------------------------------------------------------------------------------
    ("German", [
        "Wie funktioniert eine Wärmepumpe?",
        "Eine Wärmepumpe entzieht der Umgebung (Luft, Erde oder Wasser) Wärme und hebt sie mit einem Kältemittel "
        "und einem Kompressor auf ein höheres Temperaturniveau. Im Prinzip arbeitet sie wie ein umgekehrter "
        "Kühlschrank.",
    ], None),
    ("German", [
        "Ich möchte Python lernen. Wo fange ich an?",
        "Installiere Python und beginne mit den Grundlagen: **Variablen, Schleifen, Funktionen und Listen**. "
        "Kleine Projekte wie ein Zahlenratespiel helfen sehr beim Lernen.",
        "Welche IDE empfiehlst du?",
        "Für Einsteiger sind **VS Code** mit der Python-Erweiterung oder **PyCharm Community** sehr gut. Beide "
        "sind kostenlos.",
        "Gibt es gute kostenlose Kurse?",
        "Ja, zum Beispiel das offizielle Python-Tutorial auf python.org, die Kurse auf freeCodeCamp und viele "
        "Einsteigerkurse auf YouTube.",
    ], None),
    ("German", [
        "Schreibe einen kurzen Text zum Geburtstag meines Kollegen",
        "Lieber Thomas, alles Gute zum Geburtstag! Danke für die tolle Zusammenarbeit und deine gute Laune im "
        "Büro. Wir wünschen dir ein gesundes, erfolgreiches und glückliches neues Lebensjahr!",
    ], None),
    ("German", [
        "Was ist 25 Prozent von 240?",
        "25 Prozent von 240 sind **60**, denn 240 × 0,25 = 60.",
    ], None),
    # ---- Portuguese --------------------------------------------------------------------------------------------
    ("Portuguese", [
        "Como faço para calcular a média de uma lista em Python?",
        "Você pode usar `sum(lista) / len(lista)`, ou a função `mean` do módulo `statistics`:\n\n```python\n"
        "from statistics import mean\nprint(mean([4, 8, 6]))  # 6\n```",
    ], None),
    ("Portuguese", [
        "Quais são os benefícios de beber água?",
        "Beber água ajuda a:\n\n- **Regular a temperatura** do corpo\n- **Melhorar a digestão**\n- **Manter a "
        "pele saudável**\n- **Aumentar a concentração** e a disposição",
        "Quantos litros por dia?",
        "A recomendação geral é de cerca de 2 litros por dia para adultos, mas isso varia com o peso, o clima e "
        "a atividade física.",
    ], None),
    ("Portuguese", [
        "Escreva um pequeno poema sobre saudade",
        "Saudade é um rio calmo\nque corre dentro do peito,\nlevando nomes e tardes\nde um tempo que foi "
        "perfeito.",
    ], None),
]

# Where each conversation is placed in the output file (interleave languages so a small shard mixes them).
def _order() -> list[int]:
    english = [i for i, c in enumerate(CONVERSATIONS) if c[0] == "English"]
    other = [i for i, c in enumerate(CONVERSATIONS) if c[0] != "English"]
    out: list[int] = []
    # roughly one non-English conversation after every two English ones
    while english or other:
        for _ in range(2):
            if english:
                out.append(english.pop(0))
        if other:
            out.append(other.pop(0))
    return out


# --------------------------------------------------------------------------------------------------------------
# Row building
# --------------------------------------------------------------------------------------------------------------
def _unit(text: str, salt: str) -> float:
    """A stable number in [0, 1) derived from text (not random)."""
    h = hashlib.sha256((salt + "\x00" + text).encode("utf-8")).hexdigest()
    return int(h[:12], 16) / float(16**12)


def _score(text: str, salt: str, hi: float) -> float:
    # log-uniform between 1e-7 and `hi`, as real moderation scores for benign text are tiny
    lo_exp, hi_exp = -7.0, math.log10(hi)
    return float(f"{10 ** (lo_exp + (hi_exp - lo_exp) * _unit(text, salt)):.4e}")


def openai_moderation(text: str) -> dict:
    return {
        "categories": {c: False for c in OPENAI_CATEGORIES},
        "category_scores": {c: _score(text, "oai:" + c, 2e-3) for c in OPENAI_CATEGORIES},
        "flagged": False,
    }


def detoxify_moderation(text: str) -> dict:
    return {f: _score(text, "detox:" + f, 1e-3 if f != "toxicity" else 5e-3) for f in DETOXIFY_FIELDS}


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def build_rows() -> tuple[list[dict], dict]:
    rng = random.Random(SEED)
    start = dt.datetime(2023, 4, 10, 0, 0, 0)
    rows: list[dict] = []
    info: dict = {"edge": {}, "dup": []}
    dup_hash: str | None = None
    for pos, idx in enumerate(_order()):
        language, texts, tag = CONVERSATIONS[idx]
        chash = f"{rng.getrandbits(128):032x}"
        if tag == "dup":
            if dup_hash is None:
                dup_hash = chash
            else:
                chash = dup_hash
        country, state, accept_language = LOCALES[language][pos % len(LOCALES[language])]
        header = {"accept-language": accept_language, "user-agent": USER_AGENTS[pos % len(USER_AGENTS)]}
        hashed_ip = hashlib.sha256(f"demo-ip-{rng.getrandbits(64)}".encode()).hexdigest()
        model = "gpt-4-0314" if pos % 4 == 3 else "gpt-3.5-turbo-0613"
        # conversations spread over WildChat's collection period (Apr 2023 - Apr 2024), deterministic
        t = start + dt.timedelta(days=(pos * 4.7) % 380, hours=(pos * 7) % 24, minutes=(pos * 13) % 60)
        turn_id = 100000 + pos * 1000
        conversation = []
        for k, text in enumerate(texts):
            role = "user" if k % 2 == 0 else "assistant"
            if role == "user":
                turn_id += rng.randint(1, 97)
                t += dt.timedelta(seconds=20 + 7 * k)
            else:
                t += dt.timedelta(seconds=5 + len(text) // 40)
            turn_lang = language if text.strip() else "Nolang"
            conversation.append(
                {
                    "content": text,
                    "role": role,
                    "language": turn_lang,
                    "redacted": False,
                    "toxic": False,
                    "turn_identifier": turn_id,
                    "country": country if role == "user" else None,
                    "state": state if role == "user" else None,
                    "hashed_ip": hashed_ip if role == "user" else None,
                    "header": header if role == "user" else None,
                    "timestamp": None if role == "user" else _iso(t),
                }
            )
        row = {
            "conversation_hash": chash,
            "model": model,
            "timestamp": _iso(t),
            "conversation": conversation,
            "turn": sum(1 for m in conversation if m["role"] == "user"),
            "language": language,
            "openai_moderation": [openai_moderation(m["content"]) for m in conversation],
            "detoxify_moderation": [detoxify_moderation(m["content"]) for m in conversation],
            "toxic": False,
            "redacted": False,
            "state": state,
            "country": country,
            "hashed_ip": hashed_ip,
            "header": header,
        }
        line_no = len(rows) + 1
        rows.append(row)
        if tag and tag.startswith("edge-"):
            info["edge"][tag] = (line_no, chash)
        elif tag == "dup":
            info["dup"].append((line_no, chash))
    return rows, info


# --------------------------------------------------------------------------------------------------------------
# The realistic set: conversations shaped like real WildChat traffic (texts in tools/realistic_demo_text.py)
# --------------------------------------------------------------------------------------------------------------
REALISTIC_SEED = 20250213  # not SEED + 1: that one gives the malformed rows their hashes


def flagged_moderation(text: str, category: str) -> tuple[dict, dict]:
    """Moderation of an utterance WildChat's pipeline flagged (`toxic` turns): one category over threshold."""
    oai = openai_moderation(text)
    oai["categories"][category] = True
    oai["category_scores"][category] = round(0.55 + 0.4 * _unit(text, "flag:" + category), 4)
    oai["flagged"] = True
    detox = detoxify_moderation(text)
    detox["toxicity"] = round(0.6 + 0.35 * _unit(text, "detox-flag"), 4)
    detox["insult"] = round(0.4 + 0.5 * _unit(text, "detox-insult"), 4)
    return oai, detox


# Order of the multi-turn and odd conversations: each half of the file (one shard in the tests) gets long
# conversations enough to fill a vLLM scheduling step, and its share of odd rows.
REALISTIC_ORDER = (
    "multi-turn-code", "odd-assistant-first", "multi-turn-zh", "odd-unanswered", "multi-turn-ru", "empty-first-user",
    "multi-turn-ar", "empty-reply", "emoji", "toxic",
    "multi-turn-story", "over-budget-code", "multi-turn-es", "over-budget-zh", "multi-turn-ja", "over-budget-essay",
    "multi-turn-hi", "redacted", "multi-turn-math", "multi-turn-zh-roleplay",
)


def _realistic_conversations() -> list[tuple[str, list[str], dict]]:
    """Multi-turn and odd conversations (in REALISTIC_ORDER) interleaved with single-turn ones."""
    essay = next(texts for _, texts, tag in CONVERSATIONS if tag == "edge-long")
    by_tag = {opts["tag"]: (lang, texts, opts) for lang, texts, opts in realistic.CONVERSATIONS}
    by_tag["over-budget-essay"] = ("English", essay, {"tag": "over-budget-essay"})
    assert sorted(by_tag) == sorted(REALISTIC_ORDER), "every conversation placed exactly once"
    multi = [by_tag[tag] for tag in REALISTIC_ORDER]
    single = [(lang, [q, a], {"tag": "single"}) for lang, q, a in realistic.SINGLE_TURN]
    # the single-turn rows with pasted text (the last six) go early in each half, where a shard's first chunk is
    long_ones, single = single[-6:], single[:-6]
    for at, conv in zip((0, 2, 4, 11, 13, 15), long_ones):
        single.insert(at, conv)
    out: list[tuple[str, list[str], dict]] = []
    while multi or single:
        if multi:
            out.append(multi.pop(0))
        if single:
            out.append(single.pop(0))
    return out


def build_realistic() -> list[dict]:
    rng = random.Random(REALISTIC_SEED)
    locales = {**LOCALES, **REALISTIC_LOCALES}
    start = dt.datetime(2023, 5, 2, 8, 0, 0)
    rows = []
    for pos, (language, texts, opts) in enumerate(_realistic_conversations()):
        country, state, accept_language = locales[language][pos % len(locales[language])]
        header = {"accept-language": accept_language, "user-agent": USER_AGENTS[(pos * 5) % len(USER_AGENTS)]}
        hashed_ip = hashlib.sha256(f"realistic-ip-{rng.getrandbits(64)}".encode()).hexdigest()
        model = "gpt-4-0314" if pos % 3 == 2 else "gpt-3.5-turbo-0613"
        t = start + dt.timedelta(days=(pos * 8.3) % 340, hours=(pos * 5) % 24, minutes=(pos * 17) % 60)
        first = 1 if opts.get("first") == "assistant" else 0
        toxic, redacted, langs = set(opts.get("toxic", ())), set(opts.get("redacted", ())), opts.get("langs", {})
        turn_id = rng.randint(10**6, 10**7)
        conversation, oai, detox = [], [], []
        for k, text in enumerate(texts):
            role = ROLES_IN_ORDER[(k + first) % 2]
            if role == "user":
                turn_id += rng.randint(1, 9973)
                t += dt.timedelta(seconds=30 + len(text) // 20)
            else:
                t += dt.timedelta(seconds=4 + len(text) // 35)
            conversation.append({
                "content": text,
                "role": role,
                "language": langs.get(k, language),
                "redacted": k in redacted,
                "toxic": k in toxic,
                "turn_identifier": turn_id,
                "country": country if role == "user" else None,
                "state": state if role == "user" else None,
                "hashed_ip": hashed_ip if role == "user" else None,
                "header": header if role == "user" else None,
                "timestamp": None if role == "user" else _iso(t),
            })
            if k in toxic:
                flagged_oai, flagged_detox = flagged_moderation(text, "harassment")
                oai.append(flagged_oai)
                detox.append(flagged_detox)
            else:
                oai.append(openai_moderation(text))
                detox.append(detoxify_moderation(text))
        rows.append({
            "conversation_hash": f"{rng.getrandbits(128):032x}",
            "model": model,
            "timestamp": _iso(t),
            "conversation": conversation,
            "turn": sum(1 for m in conversation if m["role"] == "user"),
            "language": language,
            "openai_moderation": oai,
            "detoxify_moderation": detox,
            "toxic": bool(toxic),
            "redacted": bool(redacted),
            "state": state,
            "country": country,
            "hashed_ip": hashed_ip,
            "header": header,
        })
    return rows


ROLES_IN_ORDER = ("user", "assistant")


# --------------------------------------------------------------------------------------------------------------
# Malformed rows for reject-path tests (one problem per line, plus two valid rows)
# --------------------------------------------------------------------------------------------------------------
def _valid_row(rng: random.Random, question: str, answer: str, when: dt.datetime) -> dict:
    hashed_ip = hashlib.sha256(f"demo-ip-{rng.getrandbits(64)}".encode()).hexdigest()
    header = {"accept-language": "en-US,en;q=0.9", "user-agent": USER_AGENTS[0]}
    turn_id = rng.randint(100000, 999999)
    conv = [
        {"content": question, "role": "user", "language": "English", "redacted": False, "toxic": False,
         "turn_identifier": turn_id, "country": "United States", "state": "Ohio", "hashed_ip": hashed_ip,
         "header": header, "timestamp": None},
        {"content": answer, "role": "assistant", "language": "English", "redacted": False, "toxic": False,
         "turn_identifier": turn_id, "country": None, "state": None, "hashed_ip": None, "header": None,
         "timestamp": _iso(when)},
    ]
    return {
        "conversation_hash": f"{rng.getrandbits(128):032x}",
        "model": "gpt-3.5-turbo-0613",
        "timestamp": _iso(when),
        "conversation": conv,
        "turn": 1,
        "language": "English",
        "openai_moderation": [openai_moderation(m["content"]) for m in conv],
        "detoxify_moderation": [detoxify_moderation(m["content"]) for m in conv],
        "toxic": False,
        "redacted": False,
        "state": "Ohio",
        "country": "United States",
        "hashed_ip": hashed_ip,
        "header": header,
    }


MALFORMED_QA = [
    ("What is the capital of Italy?", "The capital of Italy is **Rome**."),
    ("hi", "Hello! How can I help you today?"),
    ("Name three primary colors.", "Red, blue and yellow are the traditional primary colors."),
    ("How many legs does a spider have?", "A spider has **eight legs**."),
    ("What is 9 times 8?", "9 × 8 = 72."),
    ("Recommend a board game for four players.", "**Ticket to Ride** is easy to learn and great for four."),
    ("What does CPU stand for?", "CPU stands for **Central Processing Unit**."),
    ("Say thanks in German.", "\"Danke\" means thanks in German; \"Danke schön\" is a bit warmer."),
    ("Is a tomato a fruit?", "Botanically yes, a tomato is a fruit, though it is cooked like a vegetable."),
    ("What is the largest planet?", "**Jupiter** is the largest planet in our solar system."),
]

# (line number, problem, expected outcome) -- also written to the README
MALFORMED_SPEC = [
    (1, "not valid JSON (object truncated mid-way)", "rejected"),
    (2, "row has no `conversation` field", "rejected"),
    (3, "second turn has no `role`", "rejected"),
    (4, "valid row", "kept"),
    (5, "a turn with role \"system\" (unknown in WildChat)", "rejected"),
    (6, "a turn with role \"tool\"", "rejected"),
    (7, "a turn whose `content` is a number (42), not a string", "rejected"),
    (8, "invalid UTF-8 bytes (0xFF 0xFE) inside the user turn's content string", "rejected"),
    (9, "`conversation` is an empty list", "rejected"),
    (10, "valid row", "kept"),
]

_BAD_BYTES_MARK = "@@INVALID_UTF8@@"


def build_malformed() -> tuple[list[bytes], list[dict]]:
    rng = random.Random(SEED + 1)
    when = dt.datetime(2023, 9, 1, 12, 0, 0)
    rows = [_valid_row(rng, q, a, when + dt.timedelta(hours=i)) for i, (q, a) in enumerate(MALFORMED_QA)]
    lines: list[bytes] = []
    meta: list[dict] = []

    def enc(obj: dict) -> bytes:
        return json.dumps(obj, ensure_ascii=False).encode("utf-8")

    # 1: not valid JSON
    full = enc(rows[0])
    lines.append(full[: len(full) // 2])
    # 2: no conversation
    r = dict(rows[1])
    del r["conversation"]
    lines.append(enc(r))
    # 3: a turn with a missing role
    r = json.loads(enc(rows[2]))
    del r["conversation"][1]["role"]
    lines.append(enc(r))
    # 4: valid
    lines.append(enc(rows[3]))
    # 5: role "system" (prepended system turn)
    r = json.loads(enc(rows[4]))
    sys_turn = dict(r["conversation"][0], role="system", content="You are a helpful assistant.")
    r["conversation"].insert(0, sys_turn)
    r["openai_moderation"].insert(0, openai_moderation(sys_turn["content"]))
    r["detoxify_moderation"].insert(0, detoxify_moderation(sys_turn["content"]))
    lines.append(enc(r))
    # 6: role "tool" in place of the assistant
    r = json.loads(enc(rows[5]))
    r["conversation"][1]["role"] = "tool"
    lines.append(enc(r))
    # 7: content is a number
    r = json.loads(enc(rows[6]))
    r["conversation"][0]["content"] = 42
    lines.append(enc(r))
    # 8: invalid UTF-8 bytes inside a string
    r = json.loads(enc(rows[7]))
    r["conversation"][0]["content"] = "Say thanks in German " + _BAD_BYTES_MARK
    lines.append(enc(r).replace(_BAD_BYTES_MARK.encode(), b"\xff\xfe"))
    # 9: empty conversation
    r = json.loads(enc(rows[8]))
    r["conversation"] = []
    r["openai_moderation"] = []
    r["detoxify_moderation"] = []
    r["turn"] = 0
    lines.append(enc(r))
    # 10: valid
    lines.append(enc(rows[9]))
    for line_no, problem, outcome in MALFORMED_SPEC:
        h = rows[line_no - 1]["conversation_hash"]
        meta.append({"line": line_no, "problem": problem, "expected": outcome, "conversation_hash": h})
    return lines, meta


# --------------------------------------------------------------------------------------------------------------
def render(out_dir: Path) -> dict[Path, bytes]:
    rows, info = build_rows()
    demo = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")
    mal_lines, _ = build_malformed()
    mal = b"".join(line + b"\n" for line in mal_lines)
    real = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in build_realistic()).encode("utf-8")
    return {out_dir / "wildchat_demo.jsonl": demo, out_dir / "wildchat_malformed.jsonl": mal,
            out_dir / "wildchat_realistic.jsonl": real}


def summary() -> str:
    rows, info = build_rows()
    from collections import Counter

    langs = Counter(r["language"] for r in rows)
    turns = Counter(r["turn"] for r in rows)
    odd = sum(1 for r in rows if len(r["conversation"]) % 2)
    long_words = max(len(m["content"].split()) for r in rows for m in r["conversation"])
    lines = [
        f"rows: {len(rows)}  unique hashes: {len({r['conversation_hash'] for r in rows})}",
        f"languages: {dict(sorted(langs.items(), key=lambda kv: -kv[1]))}",
        f"turn histogram: {dict(sorted(turns.items()))}  odd-length: {odd}",
        f"models: {dict(Counter(r['model'] for r in rows))}",
        f"longest turn: {long_words} words",
    ]
    for tag, (line, h) in sorted(info["edge"].items()):
        lines.append(f"{tag}: line {line} hash {h}")
    for line, h in info["dup"]:
        lines.append(f"dup: line {line} hash {h}")
    real = build_realistic()
    lines.append(f"realistic: {len(real)} rows, languages {dict(Counter(r['language'] for r in real))}, "
                 f"turn histogram {dict(sorted(Counter(r['turn'] for r in real).items()))}")
    _, meta = build_malformed()
    for m in meta:
        lines.append(f"malformed line {m['line']}: {m['expected']:8s} {m['problem']} ({m['conversation_hash']})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", type=Path, default=REPO / "data" / "demo")
    ap.add_argument("--check", action="store_true", help="exit 1 if the files on disk differ from the generator")
    ap.add_argument("--summary", action="store_true", help="print counts, edge cases and their hashes")
    args = ap.parse_args(argv)
    files = render(args.out_dir)
    if args.check:
        stale = [p for p, data in files.items() if not p.exists() or p.read_bytes() != data]
        for p in stale:
            print(f"stale: {p}", file=sys.stderr)
        return 1 if stale else 0
    if args.summary:
        print(summary())
        return 0
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for p, data in files.items():
        p.write_bytes(data)
        n_lines = data.count(b"\n")
        print(f"wrote {p} ({n_lines} lines, {len(data)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
