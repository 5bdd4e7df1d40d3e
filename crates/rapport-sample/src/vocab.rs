//! Word lists the generator draws from. Names carry realistic dirt on purpose: apostrophes,
//! non-ASCII letters, commas (suffixes, company names) and embedded double quotes (nicknames).
//! Each display form that may end up in an email has an ASCII twin.

/// The eight departments, with the weight (out of 100) of each as a person's department.
pub(crate) const DEPARTMENTS: [(&str, u32); 8] = [
    ("Sales", 20),
    ("Marketing", 14),
    ("Engineering", 16),
    ("Finance", 10),
    ("Human Resources", 8),
    ("Operations", 12),
    ("IT", 12),
    ("Legal", 8),
];

/// Job titles per department (same order as [`DEPARTMENTS`]).
pub(crate) const TITLES: [&[&str]; 8] = [
    &[
        "Account Executive",
        "Sales Manager",
        "VP of Sales",
        "Sales Development Representative",
        "Director, Sales Operations",
        "Inside Sales Representative",
    ],
    &["Marketing Manager", "CMO", "Demand Generation Manager", "Product Marketing Manager", "Content Strategist"],
    &["Software Engineer", "Engineering Manager", "CTO", "Staff Engineer", "QA Engineer"],
    &["Controller", "CFO", "Financial Analyst", "Accounts Payable Specialist"],
    &["HR Business Partner", "Recruiter", "Chief People Officer", "HR Generalist"],
    &["Operations Manager", "COO", "Supply Chain Analyst", "Facilities Manager"],
    &["IT Manager", "Systems Administrator", "CIO", "Network Engineer", "Help Desk Analyst"],
    &["General Counsel", "Paralegal", "Contracts Manager", "Compliance Officer"],
];

/// First names: (display, ASCII form for emails).
pub(crate) const FIRST_NAMES: &[(&str, &str)] = &[
    ("James", "james"),
    ("Mary", "mary"),
    ("John", "john"),
    ("Patricia", "patricia"),
    ("Michael", "michael"),
    ("Jennifer", "jennifer"),
    ("David", "david"),
    ("Linda", "linda"),
    ("Daniel", "daniel"),
    ("Sarah", "sarah"),
    ("Wei", "wei"),
    ("Priya", "priya"),
    ("Mohammed", "mohammed"),
    ("Aisha", "aisha"),
    ("Hiroshi", "hiroshi"),
    ("Yuki", "yuki"),
    ("Carlos", "carlos"),
    ("Ana", "ana"),
    ("Olumide", "olumide"),
    ("Fatima", "fatima"),
    ("Zoë", "zoe"),
    ("Łukasz", "lukasz"),
    ("José", "jose"),
    ("François", "francois"),
    ("Björn", "bjorn"),
    ("Søren", "soren"),
    ("Renée", "renee"),
    ("Chloé", "chloe"),
    ("Jürgen", "juergen"),
    ("Małgorzata", "malgorzata"),
    ("D'Andre", "dandre"),
    ("Siobhán", "siobhan"),
    ("Emma", "emma"),
    ("Noah", "noah"),
    ("Olivia", "olivia"),
    ("Liam", "liam"),
    ("Sofia", "sofia"),
    ("Mateo", "mateo"),
    ("Amelia", "amelia"),
    ("Lucas", "lucas"),
];

/// First names with a quoted nickname, e.g. `Robert "Bob"`: (display, ASCII form).
pub(crate) const NICKNAMED: &[(&str, &str)] = &[
    ("Robert \"Bob\"", "robert"),
    ("William \"Bill\"", "william"),
    ("Elizabeth \"Liz\"", "elizabeth"),
    ("Katherine \"Kate\"", "katherine"),
    ("Alexander \"Sasha\"", "alexander"),
];

/// Last names: (display, ASCII form for emails).
pub(crate) const LAST_NAMES: &[(&str, &str)] = &[
    ("Smith", "smith"),
    ("Johnson", "johnson"),
    ("Williams", "williams"),
    ("Brown", "brown"),
    ("Jones", "jones"),
    ("Garcia", "garcia"),
    ("Miller", "miller"),
    ("Davis", "davis"),
    ("Martinez", "martinez"),
    ("Chen", "chen"),
    ("Wang", "wang"),
    ("Kumar", "kumar"),
    ("Patel", "patel"),
    ("Tanaka", "tanaka"),
    ("Kim", "kim"),
    ("Nguyen", "nguyen"),
    ("Okafor", "okafor"),
    ("Anderson", "anderson"),
    ("Taylor", "taylor"),
    ("Thomas", "thomas"),
    ("O'Brien", "obrien"),
    ("O'Connor", "oconnor"),
    ("D'Angelo", "dangelo"),
    ("Müller", "mueller"),
    ("Schäfer", "schaefer"),
    ("Nuñez", "nunez"),
    ("García", "garcia"),
    ("Łukaszewski", "lukaszewski"),
    ("Wójcik", "wojcik"),
    ("Ångström", "angstrom"),
    ("Dubois", "dubois"),
    ("Lefèvre", "lefevre"),
    ("van der Berg", "vanderberg"),
    ("Rossi", "rossi"),
    ("Ivanova", "ivanova"),
    ("Novák", "novak"),
    ("Andersson", "andersson"),
    ("Silva", "silva"),
    ("Costa", "costa"),
    ("Haddad", "haddad"),
];

/// Generational suffixes, appended after a comma (`Smith, Jr.`).
pub(crate) const SUFFIXES: &[&str] = &["Jr.", "Sr.", "III", "PhD"];

/// Company name stems: (display, ASCII form for domains).
pub(crate) const COMPANY_STEMS: &[(&str, &str)] = &[
    ("Acme", "acme"),
    ("Globex", "globex"),
    ("Initech", "initech"),
    ("Umbrella", "umbrella"),
    ("Hooli", "hooli"),
    ("Vandelay", "vandelay"),
    ("Soylent", "soylent"),
    ("Cyberdyne", "cyberdyne"),
    ("Tyrell", "tyrell"),
    ("Nakatomi", "nakatomi"),
    ("Wonka", "wonka"),
    ("Stark", "stark"),
    ("Wayne", "wayne"),
    ("Aperture", "aperture"),
    ("Massive Dynamic", "massivedynamic"),
    ("Oceanic", "oceanic"),
    ("Northwind", "northwind"),
    ("Contoso", "contoso"),
    ("Fabrikam", "fabrikam"),
    ("Tailspin", "tailspin"),
    ("Litware", "litware"),
    ("Adventure Works", "adventureworks"),
    ("Blue Yonder", "blueyonder"),
    ("O'Reilly", "oreilly"),
    ("Müller", "mueller"),
    ("Société Lumière", "lumiere"),
    ("Nordström", "nordstrom"),
    ("Kraków", "krakow"),
    ("Bodega", "bodega"),
    ("Zephyr", "zephyr"),
    ("Quantum", "quantum"),
    ("Helios", "helios"),
];

/// Second words of company names: (display, ASCII form).
pub(crate) const COMPANY_WORDS: &[(&str, &str)] = &[
    ("Robotics", "robotics"),
    ("Systems", "systems"),
    ("Logistics", "logistics"),
    ("Analytics", "analytics"),
    ("Foods", "foods"),
    ("Health", "health"),
    ("Energy", "energy"),
    ("Media", "media"),
    ("Capital", "capital"),
    ("Labs", "labs"),
    ("Maschinenbau", "maschinenbau"),
    ("Software", "software"),
    ("Industries", "industries"),
    ("Pharma", "pharma"),
    ("Networks", "networks"),
    ("Bank", "bank"),
];

/// Legal-form suffixes (some with a comma) and the top-level domain that goes with them.
pub(crate) const LEGAL_FORMS: &[(&str, &str)] = &[
    ("", "com"),
    (" Inc.", "com"),
    (", Inc.", "com"),
    (" LLC", "com"),
    (" GmbH", "de"),
    (" S.A.", "fr"),
    (" Ltd.", "co.uk"),
    (" plc", "co.uk"),
    (" & Co.", "com"),
    (" Sp. z o.o.", "pl"),
];

/// (city, country) pairs, some with non-ASCII letters.
pub(crate) const CITIES: &[(&str, &str)] = &[
    ("San Francisco", "United States"),
    ("New York", "United States"),
    ("Chicago", "United States"),
    ("Austin", "United States"),
    ("Boston", "United States"),
    ("Toronto", "Canada"),
    ("Montréal", "Canada"),
    ("London", "United Kingdom"),
    ("Dublin", "Ireland"),
    ("Paris", "France"),
    ("München", "Germany"),
    ("Berlin", "Germany"),
    ("Zürich", "Switzerland"),
    ("Kraków", "Poland"),
    ("Amsterdam", "Netherlands"),
    ("Stockholm", "Sweden"),
    ("Madrid", "Spain"),
    ("São Paulo", "Brazil"),
    ("Bengaluru", "India"),
    ("Singapore", "Singapore"),
    ("Tokyo", "Japan"),
    ("Sydney", "Australia"),
];

/// Salesforce `Industry` picklist values (a subset).
pub(crate) const INDUSTRIES: &[&str] = &[
    "Banking",
    "Biotechnology",
    "Communications",
    "Consulting",
    "Education",
    "Electronics",
    "Energy",
    "Engineering",
    "Finance",
    "Food & Beverage",
    "Healthcare",
    "Insurance",
    "Manufacturing",
    "Media",
    "Retail",
    "Technology",
    "Telecommunications",
    "Transportation",
];

/// Salesforce `Account.Type` picklist values.
pub(crate) const ACCOUNT_TYPES: &[&str] = &[
    "Prospect",
    "Customer - Direct",
    "Customer - Channel",
    "Channel Partner / Reseller",
    "Technology Partner",
    "Other",
];

/// Salesforce `LeadSource` picklist values.
pub(crate) const SF_LEAD_SOURCES: &[&str] =
    &["Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Trade Show", "Employee Referral", "Other"];

/// Marketo `leadSource` values.
pub(crate) const MARKETO_LEAD_SOURCES: &[&str] =
    &["Website", "Webinar", "Trade Show", "Content Syndication", "Paid Search", "Email", "Sales Generated"];

/// Salesforce open opportunity stages with their default probability.
pub(crate) const OPEN_STAGES: &[(&str, u32)] = &[
    ("Prospecting", 10),
    ("Qualification", 20),
    ("Needs Analysis", 30),
    ("Value Proposition", 50),
    ("Perception Analysis", 60),
    ("Proposal/Price Quote", 75),
    ("Negotiation/Review", 90),
];

/// Salesforce `Opportunity.Type` values.
pub(crate) const OPPORTUNITY_TYPES: &[&str] = &[
    "New Customer",
    "Existing Customer - Upgrade",
    "Existing Customer - Replacement",
    "Existing Customer - Downgrade",
];

/// Products named in opportunity names.
pub(crate) const PRODUCTS: &[&str] = &[
    "Platform License",
    "Renewal",
    "Expansion",
    "Professional Services",
    "Support Upgrade",
    "Pilot",
    "Analytics Add-on",
];

/// ISO currency codes.
pub(crate) const CURRENCIES: &[&str] = &["USD", "USD", "USD", "EUR", "GBP"];

/// Salesforce `OpportunityContactRole.Role` values.
pub(crate) const SF_ROLES: &[&str] = &[
    "Decision Maker",
    "Economic Buyer",
    "Evaluator",
    "Executive Sponsor",
    "Influencer",
    "Technical Buyer",
    "Business User",
];

/// Dynamics connection role names.
pub(crate) const DYN_ROLES: &[&str] =
    &["Decision Maker", "Influencer", "Stakeholder", "Champion", "Technical Evaluator", "Economic Buyer"];

/// Unparseable Salesforce datetimes (injected `BadDate` values).
pub(crate) const BAD_SF_DATETIMES: &[&str] =
    &["2024-02-30T10:00:00.000Z", "31/12/2023", "yesterday", "2023-13-01T08:00:00.000Z"];

/// Unparseable Dynamics datetimes.
pub(crate) const BAD_DYN_DATETIMES: &[&str] =
    &["13/45/2024 1:00:00 PM", "31/12/2023 10:00:00 AM", "yesterday", "2/29/2023 9:15:00 AM"];

/// Unparseable Marketo datetimes.
pub(crate) const BAD_MARKETO_DATETIMES: &[&str] =
    &["2024-02-30T10:00:00Z", "31/12/2023", "yesterday", "2024-13-01T00:00:00Z"];
