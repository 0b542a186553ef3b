"""One news paragraph in each supported language (the same story), for the tests."""

SAMPLES = {
    "en": "The city council said on Monday that the new bridge would open to traffic in the spring, after two years of delays caused by the rising cost of steel and a dispute with the company that won the contract.",
    "de": "Der Stadtrat hat am Montag mitgeteilt, dass die neue Brücke im Frühjahr für den Verkehr geöffnet wird, nachdem sich der Bau wegen der gestiegenen Kosten für Stahl und eines Streits mit der Firma um zwei Jahre verzögert hat.",
    "fr": "Le conseil municipal a annoncé lundi que le nouveau pont sera ouvert à la circulation au printemps, après deux ans de retard dus à la hausse du prix de l'acier et à un litige avec l'entreprise qui a remporté le marché.",
    "es": "El ayuntamiento anunció el lunes que el nuevo puente se abrirá al tráfico en la primavera, después de dos años de retrasos causados por el aumento del precio del acero y por una disputa con la empresa que ganó el contrato.",
    "it": "Il consiglio comunale ha annunciato lunedì che il nuovo ponte sarà aperto al traffico in primavera, dopo due anni di ritardi dovuti all'aumento del prezzo dell'acciaio e a una controversia con la società che ha vinto l'appalto.",
    "nl": "De gemeenteraad heeft maandag laten weten dat de nieuwe brug in het voorjaar voor het verkeer wordt opengesteld, na twee jaar vertraging door de gestegen prijs van staal en een geschil met het bedrijf dat de opdracht had gekregen.",
    "pt": "A câmara municipal anunciou na segunda-feira que a nova ponte será aberta ao trânsito na primavera, depois de dois anos de atrasos causados pelo aumento do preço do aço e por uma disputa com a empresa que ganhou o contrato.",
}
